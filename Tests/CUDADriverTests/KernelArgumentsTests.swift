// Tests of KernelArguments' layout.
import Testing
@testable import CUDADriver

/// A parameter struct as a kernel might declare it: 24 bytes, 8-byte aligned.
private struct Params: BitwiseCopyable, Equatable {
    var pointer: UInt64
    var count: Int32
    var scale: Float
    var flag: UInt8
}

private func sampleTensorMap(seed: UInt8) throws -> TensorMap {
    try TensorMap(bytes: (0..<128).map { UInt8(truncatingIfNeeded: Int($0) &* 7 &+ Int(seed)) })
}

/// The parameter pointers of `arguments`, copied out (valid only while `arguments` lives unchanged).
private func addresses(of arguments: KernelArguments) -> [UnsafeMutableRawPointer] {
    arguments.withParameterPointers { array in
        guard let array else { return [] }
        return (0..<arguments.count).map { array[$0]! }
    }
}

@Suite("KernelArguments")
struct KernelArgumentsTests {
    @Test("No arguments gives a nil parameter array")
    func empty() {
        let arguments = KernelArguments()
        #expect(arguments.count == 0)
        let isNil = arguments.withParameterPointers { $0 == nil }
        #expect(isNil)
    }

    @Test("Each pointer points at its own value, aligned, for mixed sizes")
    func mixedSizes() throws {
        let map = try sampleTensorMap(seed: 3)
        let params = Params(pointer: 0xDEAD_BEEF_0000, count: -7, scale: 0.125, flag: 9)
        var arguments = KernelArguments()
        arguments.append(UInt8(0xAB))
        arguments.append(UInt64(0x0123_4567_89AB_CDEF))
        arguments.append(Float(3.5))
        arguments.append(UInt16(0xBEEF))
        arguments.append(map)
        arguments.append(Int32(-42))
        arguments.append(params)
        arguments.append(Double(-2.25))
        #expect(arguments.count == 8)

        arguments.withParameterPointers { array in
            guard let array else {
                Issue.record("nil parameter array")
                return
            }
            let p = (0..<8).map { array[$0]! }
            #expect(p[0].load(as: UInt8.self) == 0xAB)
            #expect(Int(bitPattern: p[1]) % 8 == 0)
            #expect(p[1].load(as: UInt64.self) == 0x0123_4567_89AB_CDEF)
            #expect(Int(bitPattern: p[2]) % 4 == 0)
            #expect(p[2].load(as: Float.self) == 3.5)
            #expect(Int(bitPattern: p[3]) % 2 == 0)
            #expect(p[3].load(as: UInt16.self) == 0xBEEF)
            #expect(Int(bitPattern: p[4]) % 64 == 0)
            #expect(Int(bitPattern: p[4]) % 128 == 0)
            #expect(Array(UnsafeRawBufferPointer(start: p[4], count: 128)) == map.bytes)
            #expect(p[5].load(as: Int32.self) == -42)
            #expect(Int(bitPattern: p[6]) % MemoryLayout<Params>.alignment == 0)
            #expect(p[6].load(as: Params.self) == params)
            #expect(p[7].load(as: Double.self) == -2.25)
            // Slots never overlap.
            let sizes = [1, 8, 4, 2, 128, 4, MemoryLayout<Params>.stride, 8]
            let ranges = (0..<8).map { Int(bitPattern: p[$0])..<(Int(bitPattern: p[$0]) + sizes[$0]) }
            for i in 0..<8 {
                for j in (i + 1)..<8 {
                    #expect(!ranges[i].overlaps(ranges[j]), "slots \(i) and \(j) overlap")
                }
            }
        }
        #expect(arguments.byteCount(ofArgument: 4) == 128)
        // The struct's slot is its stride, as the kernel's sizeof: 17 bytes of fields, 7 of zeroed padding.
        #expect(MemoryLayout<Params>.size == 17 && MemoryLayout<Params>.stride == 24)
        #expect(arguments.byteCount(ofArgument: 6) == 24)
        let padding = arguments.withParameterPointers { Array(UnsafeRawBufferPointer(start: $0![6]! + 17, count: 7)) }
        #expect(padding == [UInt8](repeating: 0, count: 7))
    }

    @Test("Growing past the first buffer keeps every value and alignment")
    func growth() throws {
        var arguments = KernelArguments()
        var maps: [TensorMap] = []
        for index in 0..<40 {
            arguments.append(UInt8(truncatingIfNeeded: index))
            let map = try sampleTensorMap(seed: UInt8(index))
            maps.append(map)
            arguments.append(map)
            arguments.append(UInt64(index) * 1_000_003)
        }
        #expect(arguments.count == 120)
        let pointers = addresses(of: arguments)
        for index in 0..<40 {
            #expect(pointers[3 * index].load(as: UInt8.self) == UInt8(truncatingIfNeeded: index))
            #expect(Int(bitPattern: pointers[3 * index + 1]) % 64 == 0)
            #expect(Array(UnsafeRawBufferPointer(start: pointers[3 * index + 1], count: 128)) == maps[index].bytes)
            #expect(pointers[3 * index + 2].load(as: UInt64.self) == UInt64(index) * 1_000_003)
        }
    }

    @Test("Copies are independent (copy on write)")
    func copyOnWrite() {
        var original = KernelArguments()
        original.append(UInt32(1))
        var copy = original
        copy.append(UInt32(2))
        original.append(UInt64(3))
        #expect(original.count == 2)
        #expect(copy.count == 2)
        let a = addresses(of: original)
        let b = addresses(of: copy)
        #expect(a[0].load(as: UInt32.self) == 1)
        #expect(a[1].load(as: UInt64.self) == 3)
        #expect(b[0].load(as: UInt32.self) == 1)
        #expect(b[1].load(as: UInt32.self) == 2)
    }

    @Test("Raw byte arguments honour the requested alignment")
    func rawBytes() {
        var arguments = KernelArguments()
        arguments.append(UInt8(1))
        let bytes: [UInt8] = Array(0..<48)
        bytes.withUnsafeBytes { arguments.appendBytes($0, alignment: 16) }
        let pointers = addresses(of: arguments)
        #expect(Int(bitPattern: pointers[1]) % 16 == 0)
        #expect(Array(UnsafeRawBufferPointer(start: pointers[1], count: 48)) == bytes)
    }
}
