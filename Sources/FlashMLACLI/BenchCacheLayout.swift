// BenchCacheLayout: a benchmark cache in another page size or FP8 layout.
import Dispatch
import FlashMLA
import FlashMLATesting

/// A benchmark cache in another layout than FlashMLA's (`--page-size`, `--kv-format`): pages of
/// `pageSize` tokens, each request's pages drawn from a shuffled permutation, small finite
/// random contents where a token is used and NaN bytes (NaN codes for FP8) everywhere else, so
/// that a kernel reading a slot past a sequence's end shows up in the bench's NaN warnings.
struct BenchCacheLayout {
    let kCache: Tensor
    let blockTable: Tensor
    let kvFormat: KVCacheFormat

    init(lengths: [Int32], kvHeads: Int, pageSize: Int, format: KVFormatChoice, elementType: ElementType, seed: UInt64) {
        let columns = lengths.map { (Int($0) + pageSize - 1) / pageSize }
        let numPages = max(columns.reduce(0, +), 1), width = max(columns.max() ?? 1, 1)
        var rng = InputRandom(seed: seed)
        var order = (0..<numPages).map { Int32($0) }
        order.shuffle(using: &rng)
        var table = [Int32](repeating: 0, count: lengths.count * width)
        var validTokens = [Int](repeating: 0, count: numPages)
        var next = 0
        for (request, count) in columns.enumerated() {
            for column in 0..<count {
                table[request * width + column] = order[next]
                validTokens[Int(order[next])] = min(pageSize, Int(lengths[request]) - column * pageSize)
                next += 1
            }
        }
        blockTable = Tensor(table, shape: [lengths.count, width])
        kvFormat = format.format(scale: 1.0 / 64)
        let tokenBytes = kvFormat.bytesPerToken(queryType: elementType) * (format == .fp8DS ? 1 : kvHeads)
        let shape = format == .fp8DS ? [numPages, pageSize, 1, KVCacheFormat.deepSeekTokenBytes]
                                     : [numPages, pageSize, kvHeads, DecodeProblem.headDim]
        kCache = Tensor(hostElementType: format == .native ? elementType : format == .fp8 ? .float8E4M3 : .uint8, shape: shape)
        nonisolated(unsafe) let bytes = kCache.view.hostPointer!.assumingMemoryBound(to: UInt8.self)
        let valid = validTokens, pageBytes = pageSize * tokenBytes, bf16 = elementType == .bfloat16
        let pageSeed = rng.next()
        DispatchQueue.concurrentPerform(iterations: numPages) { page in
            var local = InputRandom(seed: pageSeed &+ UInt64(page) &* 0xD1B5_4A32_D192_ED03)
            let base = bytes + page * pageBytes
            base.initialize(repeating: 0xFF, count: pageBytes)       // NaN in bf16, fp16 and E4M3
            for offset in 0..<valid[page] * tokenBytes {
                let random = UInt8(truncatingIfNeeded: local.next())
                switch format {
                case .native:
                    // Little-endian 16-bit values of magnitude below 2⁻⁶: the high byte holds sign and exponent.
                    base[offset] = offset % 2 == 0 ? random : (random & 0x80) | (bf16 ? 0x3C : 0x20)
                case .fp8:
                    base[offset] = random & 0xB7                        // exponent ≤ 6: |x| < 1, never NaN
                case .fp8DS:
                    let inToken = offset % KVCacheFormat.deepSeekTokenBytes
                    if inToken < 512 {
                        base[offset] = random & 0xB7
                    } else if inToken < 528 {
                        base[offset] = [0x00, 0x00, 0x80, 0x3C][inToken % 4]   // scales 2⁻⁶ (little-endian Float32)
                    } else {
                        base[offset] = inToken % 2 == 0 ? random : (random & 0x80) | 0x3C
                    }
                case .model1:
                    preconditionFailure("model1 is sparse only: BenchConfig.problems refuses a dense model1 row")
                }
            }
        }
    }
}
