// Support for the C ABI tests: descriptors and calls built from Swift.
import CFlashMLA
import FlashMLA
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `flashmla_swift_tensor` in its own memory (144 bytes), built field by field as a C
/// caller would.
final class Descriptor {
    let pointer = UnsafeMutableRawPointer.allocate(byteCount: 144, alignment: 8)

    init(_ code: Int32, _ shape: [Int], strides: [Int]? = nil, data: UInt64 = 0x7f00_0000_0000, rank: Int32? = nil) {
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: 144)
        pointer.storeBytes(of: data, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: code, toByteOffset: 8, as: Int32.self)
        pointer.storeBytes(of: rank ?? Int32(shape.count), toByteOffset: 12, as: Int32.self)
        let strides = strides ?? TensorView.contiguousStrides(for: shape)
        for (axis, extent) in shape.prefix(8).enumerated() {
            pointer.storeBytes(of: Int64(extent), toByteOffset: 16 + 8 * axis, as: Int64.self)
            pointer.storeBytes(of: Int64(strides[axis]), toByteOffset: 80 + 8 * axis, as: Int64.self)
        }
    }

    deinit { pointer.deallocate() }

    var raw: UnsafeRawPointer { UnsafeRawPointer(pointer) }
}

/// The `FLASHMLA_SWIFT_DTYPE_*` codes.
enum Code {
    static let bfloat16: Int32 = 1
    static let float16: Int32 = 2
    static let float32: Int32 = 3
    static let int32: Int32 = 4
    static let float8E4M3: Int32 = 5
    static let uint8: Int32 = 6
}

/// A device ordinal that exists on no machine: calls on it never reach a GPU, so these tests
/// run the same with or without one.
let absentDevice: Int32 = 999

/// The arguments of one decode call, valid by default (b = 2, s_q = 1, h_q = 16, h_kv = 1,
/// 4 pages, 132 SM parts); tests break one at a time.
struct DecodeCall {
    var device: Int32 = absentDevice
    var q: Descriptor? = Descriptor(Code.bfloat16, [2, 1, 16, 576], data: 0x7f00_0000_0000)
    var kCache: Descriptor? = Descriptor(Code.bfloat16, [4, 64, 1, 576], data: 0x7f00_1000_0000)
    var blockTable: Descriptor? = Descriptor(Code.int32, [2, 2], data: 0x7f00_2000_0000)
    var cacheSeqlens: Descriptor? = Descriptor(Code.int32, [2], data: 0x7f00_3000_0000)
    var tileSchedulerMetadata: Descriptor? = Descriptor(Code.int32, [132, 8], data: 0x7f00_4000_0000)
    var numSplits: Descriptor? = Descriptor(Code.int32, [3], data: 0x7f00_5000_0000)
    var headDimV: Int64 = 512
    var softmaxScale: Float = 1 / Float(576).squareRoot()
    var causal: Int32 = 1
    var out: Descriptor? = Descriptor(Code.bfloat16, [2, 1, 16, 512], data: 0x7f00_6000_0000)
    var lse: Descriptor? = Descriptor(Code.float32, [2, 16, 1], data: 0x7f00_7000_0000)
    /// `FLASHMLA_SWIFT_KV_*` for `flashmla_swift_decode_kv`; nil calls `flashmla_swift_decode`.
    var kvFormat: Int32?
    var kScale: Float = 1

    /// Calls `flashmla_swift_decode` (or `_decode_kv`); returns its status and the thread's last error.
    func run() -> (status: Int32, message: String) {
        let status = if let kvFormat {
            flashmla_swift_decode_kv(
                device, nil, q?.raw, kCache?.raw, blockTable?.raw, cacheSeqlens?.raw,
                tileSchedulerMetadata?.raw, numSplits?.raw, headDimV, softmaxScale, causal, kvFormat, kScale,
                out?.raw, lse?.raw, nil)
        } else {
            flashmla_swift_decode(
                device, nil, q?.raw, kCache?.raw, blockTable?.raw, cacheSeqlens?.raw,
                tileSchedulerMetadata?.raw, numSplits?.raw, headDimV, softmaxScale, causal,
                out?.raw, lse?.raw, nil)
        }
        return (status, String(cString: flashmla_swift_last_error()))
    }
}

/// The arguments of one metadata call, valid by default (b = 3, 132 SM parts).
struct MetadataCall {
    var device: Int32 = absentDevice
    var cacheSeqlens: Descriptor? = Descriptor(Code.int32, [3], data: 0x7f00_3000_0000)
    var numHeadsPerHeadK: Int64 = 128
    var numHeadsK: Int64 = 1
    var tileSchedulerMetadata: Descriptor? = Descriptor(Code.int32, [66, 8], data: 0x7f00_4000_0000)
    var numSplits: Descriptor? = Descriptor(Code.int32, [4], data: 0x7f00_5000_0000)

    func run() -> (status: Int32, message: String) {
        let status = flashmla_swift_get_metadata(
            device, nil, cacheSeqlens?.raw, numHeadsPerHeadK, numHeadsK, tileSchedulerMetadata?.raw, numSplits?.raw)
        return (status, String(cString: flashmla_swift_last_error()))
    }
}

/// The calling thread's last error.
func lastError() -> String { String(cString: flashmla_swift_last_error()) }

/// The text of `Sources/CFlashMLA/include/flashmla_swift.h`.
func headerText() -> String? {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
    path += "/Sources/CFlashMLA/include/flashmla_swift.h"
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
