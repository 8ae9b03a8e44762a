// FP8Quantizer: host quantization into the two FP8 cache layouts.
/// Quantizes KV-cache values into the two FP8 layouts of ``KVCacheFormat``, on the host.
///
/// - Per-tensor: code = E4M3(x / scale), rounded to nearest even and saturated to ±448;
///   ``perTensorScale(maxMagnitude:)`` picks `scale = max|x| / 448`.
/// - DeepSeek-V3.2, per token: for each group of 128 NoPE values `scale = max|x| / 448`
///   (Float32), codes E4M3(x / scale) (all zero, with scale 0, for a group of zeros), the four
///   scales as little-endian Float32, then the 64 RoPE values as bf16.
public enum FP8Quantizer {
    /// `max|x| / 448`, or 1 when `maxMagnitude` is 0 or not finite.
    public static func perTensorScale(maxMagnitude: Float) -> Float {
        guard maxMagnitude > 0, maxMagnitude.isFinite else { return 1 }
        return maxMagnitude / Float8E4M3.greatestFiniteMagnitude
    }

    /// The E4M3 code of `value / scale`.
    @inlinable
    public static func code(_ value: Float, scale: Float) -> UInt8 {
        Float8E4M3(value / scale).bitPattern
    }

    /// Writes the 656 bytes of one DeepSeek-V3.2 token for the 576 `values` (512 NoPE, 64 RoPE).
    public static func encodeDeepSeekToken(_ values: UnsafePointer<Float>, into bytes: UnsafeMutableRawPointer) {
        let group = KVCacheFormat.deepSeekGroupSize, nope = KVCacheFormat.deepSeekNoPEBytes
        for groupIndex in 0 ..< nope / group {
            var largest: Float = 0
            for index in groupIndex * group ..< (groupIndex + 1) * group {
                largest = max(largest, values[index].magnitude)
            }
            let scale = largest / Float8E4M3.greatestFiniteMagnitude
            for index in groupIndex * group ..< (groupIndex + 1) * group {
                let code: UInt8 = scale > 0 ? Self.code(values[index], scale: scale) : 0
                bytes.storeBytes(of: code, toByteOffset: index, as: UInt8.self)
            }
            bytes.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: nope + 4 * groupIndex, as: UInt32.self)
        }
        let ropeStart = nope + 16
        for index in 0 ..< DecodeProblem.headDim - DecodeProblem.headDimV {
            let bits = BFloat16(values[DecodeProblem.headDimV + index]).bitPattern
            bytes.storeBytes(of: bits.littleEndian, toByteOffset: ropeStart + 2 * index, as: UInt16.self)
        }
    }

    /// A host cache in `format` holding `cache`'s values: `cache` is a host tensor
    /// `[numPages, P, h_kv, 576]` of any floating-point type (its NaNs stay NaN codes, except
    /// that a DeepSeek group holding a NaN gets a NaN scale). For `.native` the result is
    /// a contiguous copy; for `.fp8PerTensor(scale)` float8_e4m3 codes of `x / scale`; for
    /// `.fp8DeepSeek` (`h_kv` must be 1) uint8 `[numPages, P, 1, 656]`. For `.fp8Model1`, `cache` is
    /// `[numPages, P, 1, 512]` and the result ``Model1Quantizer/quantize(_:)``'s.
    public static func quantize(_ cache: TensorView, format: KVCacheFormat) throws(MLAError) -> Tensor {
        if format == .fp8Model1 { return try Model1Quantizer.quantize(cache) }
        guard cache.rank == 4, cache.shape[3] == DecodeProblem.headDim, cache.hostPointer != nil,
              cache.elementType != .int32, cache.elementType != .uint8 else {
            throw .invalidArgument(argument: "cache", expected: "a host floating-point tensor [numPages, P, h_kv, 576]",
                                   given: cache.shapeDescription)
        }
        let values = HostElements(cache).load()
        let tokens = cache.shape[0] * cache.shape[1] * cache.shape[2], dim = DecodeProblem.headDim
        switch format {
        case .native:
            return Tensor(values, as: cache.elementType, shape: cache.shape)
        case let .fp8PerTensor(scale):
            guard scale.isFinite, scale > 0 else {
                throw .invalidArgument(argument: "kScale", expected: "finite and > 0", given: "\(scale)")
            }
            let tensor = Tensor(hostElementType: .float8E4M3, shape: cache.shape)
            let bytes = tensor.view.hostPointer!
            for index in values.indices {
                bytes.storeBytes(of: code(values[index], scale: scale), toByteOffset: index, as: UInt8.self)
            }
            return tensor
        case .fp8DeepSeek:
            guard cache.shape[2] == 1 else {
                throw .invalidArgument(argument: "cache", expected: "h_kv = 1 for the DeepSeek-V3.2 layout",
                                       given: cache.shapeDescription)
            }
            let tokenBytes = KVCacheFormat.deepSeekTokenBytes
            let tensor = Tensor(hostElementType: .uint8, shape: [cache.shape[0], cache.shape[1], 1, tokenBytes])
            let bytes = tensor.view.hostPointer!
            values.withUnsafeBufferPointer { source in
                for token in 0 ..< tokens {
                    encodeDeepSeekToken(source.baseAddress! + token * dim, into: bytes + token * tokenBytes)
                }
            }
            return tensor
        case .fp8Model1:
            preconditionFailure("handled above")
        }
    }
}
