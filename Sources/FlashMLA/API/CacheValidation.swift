// The argument checks of the cache layouts: element types, page sizes, FP8 scales.
extension Validation {
    /// Throws unless `kCache`'s element type is the one `format` stores, and (per-tensor FP8)
    /// the scale is finite and > 0: `q`'s type for `.native`, float8_e4m3 for
    /// `.fp8PerTensor`, uint8 (or float8_e4m3 bytes) for `.fp8DeepSeek`.
    static func checkCacheType(_ kCache: TensorView, format: KVCacheFormat, queryType: ElementType) throws(MLAError) {
        switch format {
        case .native:
            try checkType(kCache, "kCache", queryType)
        case let .fp8PerTensor(scale):
            try checkType(kCache, "kCache", .float8E4M3)
            guard scale.isFinite, scale > 0 else {
                throw .invalidArgument(argument: "kScale", expected: "finite and > 0", given: "\(scale)")
            }
        case .fp8DeepSeek:
            guard kCache.elementType == .uint8 || kCache.elementType == .float8E4M3 else {
                throw .invalidArgument(argument: "kCache", expected: "uint8 (or float8_e4m3 bytes) for the fp8-ds format",
                                       given: "\(kCache.elementType)")
            }
        }
    }

    /// Throws unless the rank-4 `kCache` is `[numPages, P, h_kv, n]` with `P` in 1 … 256,
    /// `h_kv ≥ 1` (exactly 1 for `.fp8DeepSeek`) and `n` elements making the bytes a token
    /// `format` stores (1152 or 576·2 for native, 576 for per-tensor FP8, 656 for DeepSeek).
    static func checkCacheShape(_ kCache: TensorView, format: KVCacheFormat, queryType: ElementType) throws(MLAError) {
        let pageSize = kCache.shape[1], hKV = kCache.shape[2]
        let tokenBytes = format.bytesPerToken(queryType: queryType)
        let tokenElements = tokenBytes / kCache.elementType.byteCount
        guard (1 ... KVCacheFormat.maxPageSize).contains(pageSize) else {
            throw .invalidArgument(argument: "kCache", expected: "a page size (dimension 1) in 1...\(KVCacheFormat.maxPageSize)",
                                   given: "\(pageSize) in \(kCache.shapeDescription)")
        }
        guard kCache.shape[3] * kCache.elementType.byteCount == tokenBytes else {
            throw .invalidArgument(argument: "kCache",
                                   expected: "\(tokenElements) elements (\(tokenBytes) bytes) a token for the \(format) format",
                                   given: "\(kCache.shape[3] * kCache.elementType.byteCount) bytes in \(kCache.shapeDescription)")
        }
        guard hKV >= 1 else {
            throw .invalidArgument(argument: "kCache", expected: "h_kv >= 1", given: kCache.shapeDescription)
        }
        if format == .fp8DeepSeek, hKV != 1 {
            throw .invalidArgument(argument: "kCache", expected: "h_kv = 1 for the fp8-ds format",
                                   given: "h_kv = \(hKV) in \(kCache.shapeDescription)")
        }
    }
}
