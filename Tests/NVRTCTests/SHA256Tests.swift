// Tests of SHA256.
import Testing
@testable import NVRTC

/// The FIPS 180-4 / NIST example vectors.
@Suite struct SHA256Tests {
    @Test func emptyMessage() {
        #expect(SHA256.hexString(of: [UInt8]())
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abc() {
        #expect(SHA256.hexString(of: Array("abc".utf8))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlockMessage() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hexString(of: Array(message.utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hexString(of: [UInt8](repeating: 0x61, count: 1_000_000)) == expected)

        // The same million bytes fed in uneven pieces, some not contiguous.
        var hasher = SHA256()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let count = min(piece, 1_000_000 - fed)
            if piece % 2 == 0 {
                hasher.update([UInt8](repeating: 0x61, count: count))
            } else {
                hasher.update((0..<count).lazy.map { _ in UInt8(0x61) })
            }
            fed += count
            piece = piece * 3 % 1_001 + 1
        }
        #expect(SHA256.hex(hasher.finalize()) == expected)
    }

    @Test func paddingBoundaries() {
        // Lengths around the 55/56/64-byte padding edges, split across two updates, must match one-shot hashing.
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var hasher = SHA256()
            hasher.update(bytes[..<(length / 3)])
            hasher.update(bytes[(length / 3)...])
            #expect(hasher.finalize() == SHA256.hash(bytes), "length \(length)")
        }
        #expect(SHA256.hash(Array("abc".utf8)).count == 32)
    }

    @Test func hexEncoding() {
        #expect(SHA256.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }
}
