// FP8Reference: an FP8 cache's values decoded from the layout's definition, for the Float64 reference.
import Dispatch
import FlashMLA

/// The values an FP8 cache stands for, decoded from the layout's definition (``KVCacheFormat``)
/// for the Float64 reference, independently of the library's readers.
public enum FP8Reference {
    /// The value of an E4M3 code: ±2^(e−7)·(1 + m/8), ±2⁻⁶·m/8 for e = 0, NaN for 0x7F/0xFF.
    public static func e4m3(_ code: UInt8) -> Float {
        let sign: Float = code & 0x80 != 0 ? -1 : 1
        let e = Int(code >> 3) & 15, m = Float(code & 7)
        if e == 15 && m == 7 { return .nan }
        return e == 0 ? sign * m / 8 * 0x1p-6 : sign * (1 + m / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// Float32 `[numPages, P, h_kv, 576]` values of the contiguous host cache `cache` in `format`:
    /// per-tensor `code · scale`; DeepSeek `code · scale[i/128]` rounded to `type`, RoPE bf16
    /// rounded to `type`; MODEL1 (any page stride) as ``decodeModel1Token(page:slot:pageSize:into:roundingTo:)``,
    /// then 64 zeros.
    public static func dequantize(_ cache: Tensor, format: KVCacheFormat, roundingTo type: ElementType) -> Tensor {
        let tokens = cache.shape[0] * cache.shape[1] * cache.shape[2], dim = DecodeProblem.headDim
        let pageStride = cache.view.strides[0] * cache.elementType.byteCount
        let result = Tensor(hostElementType: .float32, shape: [cache.shape[0], cache.shape[1], cache.shape[2], dim])
        let source = UnsafeRawPointer(cache.view.hostPointer!)
        let target = result.view.hostPointer!.assumingMemoryBound(to: Float.self)
        nonisolated(unsafe) let (input, output) = (source, target)
        let chunk = 4096
        DispatchQueue.concurrentPerform(iterations: (tokens + chunk - 1) / chunk) { task in
            for token in task * chunk ..< min(tokens, (task + 1) * chunk) {
                let row = output + token * dim
                switch format {
                case .native:
                    preconditionFailure("a native cache needs no dequantization")
                case let .fp8PerTensor(scale):
                    for i in 0 ..< dim { row[i] = e4m3(input.load(fromByteOffset: token * dim + i, as: UInt8.self)) * scale }
                case .fp8DeepSeek:
                    decodeDeepSeekToken(input + token * KVCacheFormat.deepSeekTokenBytes, into: row, roundingTo: type)
                case .fp8Model1:
                    let pageSize = cache.shape[1], page = token / pageSize
                    decodeModel1Token(page: input + page * pageStride, slot: token % pageSize, pageSize: pageSize,
                                      into: row, roundingTo: type)
                    for i in Model1Layout.headDim ..< dim { row[i] = 0 }
                }
            }
        }
        return result
    }

    /// The 576 values of one DeepSeek-V3.2 token (656 bytes at `bytes`) into `row`: NoPE value `i`
    /// is `code[i] · scale[i / 128]` rounded to `type`, a RoPE value its bf16 rounded to `type`.
    public static func decodeDeepSeekToken(_ bytes: UnsafeRawPointer, into row: UnsafeMutablePointer<Float>,
                                           roundingTo type: ElementType) {
        func rounded(_ value: Float) -> Float {
            type == .bfloat16 ? Float(BFloat16(value)) : Float(Float16(value))
        }
        for i in 0 ..< KVCacheFormat.deepSeekNoPEBytes {
            let scale = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 512 + 4 * (i / KVCacheFormat.deepSeekGroupSize),
                                                              as: UInt32.self))
            row[i] = rounded(e4m3(bytes.load(fromByteOffset: i, as: UInt8.self)) * scale)
        }
        for i in 0 ..< DecodeProblem.headDim - DecodeProblem.headDimV {
            let bits = bytes.loadUnaligned(fromByteOffset: 528 + 2 * i, as: UInt16.self)
            row[512 + i] = rounded(Float(bitPattern: UInt32(bits) << 16))
        }
    }

    /// The 512 values of MODEL1 slot `slot` of a page of `pageSize` tokens at `page`, from the
    /// layout's definition (FlashMLA's `tests/quant.py::dequantize_k_cache`): NoPE value `i < 448`
    /// is `code[i] · 2^(scale byte[i / 64] − 127)` rounded to `type` (scale bytes after the page's
    /// `pageSize · 576` data bytes, 8 a token), values 448 ..< 512 the RoPE bf16 rounded to `type`.
    public static func decodeModel1Token(page: UnsafeRawPointer, slot: Int, pageSize: Int,
                                         into row: UnsafeMutablePointer<Float>, roundingTo type: ElementType) {
        func rounded(_ value: Float) -> Float {
            type == .bfloat16 ? Float(BFloat16(value)) : Float(Float16(value))
        }
        let data = page + slot * 576, scales = page + pageSize * 576 + slot * 8
        for i in 0 ..< 448 {
            let byte = scales.load(fromByteOffset: i / 64, as: UInt8.self)
            let scale: Float = byte == 255 ? .nan : Float(sign: .plus, exponent: Int(byte) - 127, significand: 1)
            row[i] = rounded(e4m3(data.load(fromByteOffset: i, as: UInt8.self)) * scale)
        }
        for i in 0 ..< 64 {
            let bits = data.loadUnaligned(fromByteOffset: 448 + 2 * i, as: UInt16.self)
            row[448 + i] = rounded(Float(bitPattern: UInt32(bits) << 16))
        }
    }
}
