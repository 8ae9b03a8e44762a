// CacheDequantizer: the CPU backend's reading of FP8 cache tokens.
/// The CPU backend's reading of FP8 cache tokens (``KVCacheFormat``): the values the GPU
/// kernels compute with, so that both are compared with a reference on the same cache.
enum CacheDequantizer {
    /// The 576 values of a per-tensor FP8 token at `bytes`: `e4m3 · scale` in Float32.
    static func perTensor(_ bytes: UnsafeRawPointer, scale: Float, into destination: UnsafeMutablePointer<Float>) {
        for index in 0 ..< DecodeProblem.headDim {
            destination[index] = Float8E4M3(bitPattern: bytes.load(fromByteOffset: index, as: UInt8.self)).floatValue * scale
        }
    }

    /// The 576 values of a DeepSeek-V3.2 token at `bytes` (656 bytes): NoPE value `i` is
    /// `e4m3[i] · scale[i / 128]` (a Float32 product) rounded to `type`, a RoPE value its bf16
    /// rounded to `type`.
    static func deepSeek(_ bytes: UnsafeRawPointer, roundingTo type: ElementType,
                         into destination: UnsafeMutablePointer<Float>) {
        let nope = KVCacheFormat.deepSeekNoPEBytes, group = KVCacheFormat.deepSeekGroupSize
        for index in 0 ..< nope {
            let scaleBits = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: nope + 4 * (index / group), as: UInt32.self))
            let code = Float8E4M3(bitPattern: bytes.load(fromByteOffset: index, as: UInt8.self))
            destination[index] = round(code.floatValue * Float(bitPattern: scaleBits), to: type)
        }
        for index in 0 ..< DecodeProblem.headDim - DecodeProblem.headDimV {
            let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: nope + 16 + 2 * index, as: UInt16.self))
            destination[DecodeProblem.headDimV + index] = round(BFloat16(bitPattern: bits).floatValue, to: type)
        }
    }

    /// The 576 values of MODEL1 slot `slot` of the page at `page` (a page of `pageSize` tokens,
    /// ``Model1Layout``): NoPE value `i < 448` is `e4m3[i] · 2^(scale[i / 64] − 127)` (a Float32
    /// product) rounded to `type`, values 448 ..< 512 the RoPE bf16 rounded to `type`, and 512 ..< 576
    /// zero (the kernels pad MODEL1's 512 dims of `q` and K to 576 with zeros).
    static func model1(page: UnsafeRawPointer, slot: Int, pageSize: Int, roundingTo type: ElementType,
                       into destination: UnsafeMutablePointer<Float>) {
        let data = page + Model1Layout.dataOffset(slot: slot)
        let scales = page + Model1Layout.scaleOffset(slot: slot, pageSize: pageSize)
        for index in 0 ..< Model1Layout.nopeDims {
            let scale = Model1Layout.scaleValue(scales.load(fromByteOffset: index / Model1Layout.groupSize, as: UInt8.self))
            let code = Float8E4M3(bitPattern: data.load(fromByteOffset: index, as: UInt8.self))
            destination[index] = round(code.floatValue * scale, to: type)
        }
        for index in 0 ..< Model1Layout.ropeDims {
            let bits = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: Model1Layout.nopeDims + 2 * index, as: UInt16.self))
            destination[Model1Layout.nopeDims + index] = round(BFloat16(bitPattern: bits).floatValue, to: type)
        }
        for index in Model1Layout.headDim ..< DecodeProblem.headDim { destination[index] = 0 }
    }

    /// `value` rounded to nearest even in `type` (bf16 or fp16).
    static func round(_ value: Float, to type: ElementType) -> Float {
        type == .bfloat16 ? BFloat16(value).floatValue : Float(Float16(value))
    }
}
