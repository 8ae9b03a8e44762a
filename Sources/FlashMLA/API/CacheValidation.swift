// The argument checks of the cache layouts: element types, page sizes, FP8 scales.
extension Validation {
    /// Throws unless `kCache`'s element type is the one `format` stores, and (per-tensor FP8)
    /// the scale is finite and > 0: `q`'s type for `.native`, float8_e4m3 for
    /// `.fp8PerTensor`, uint8 (or float8_e4m3 bytes) for `.fp8DeepSeek` and `.fp8Model1`.
    /// `argument` names the cache (`kCache`, or `extraKCache`).
    static func checkCacheType(_ kCache: TensorView, format: KVCacheFormat, queryType: ElementType,
                               argument: String = "kCache") throws(MLAError) {
        switch format {
        case .native:
            try checkType(kCache, argument, queryType)
        case let .fp8PerTensor(scale):
            try checkType(kCache, argument, .float8E4M3)
            guard scale.isFinite, scale > 0 else {
                throw .invalidArgument(argument: "kScale", expected: "finite and > 0", given: "\(scale)")
            }
        case .fp8DeepSeek, .fp8Model1:
            guard kCache.elementType == .uint8 || kCache.elementType == .float8E4M3 else {
                throw .invalidArgument(argument: argument, expected: "uint8 (or float8_e4m3 bytes) for the \(format) format",
                                       given: "\(kCache.elementType)")
            }
        }
    }

    /// Throws unless the rank-4 `kCache` is `[numPages, P, h_kv, n]` with `P` in 1 … 256,
    /// `h_kv ≥ 1` (exactly 1 for `.fp8DeepSeek` and `.fp8Model1`) and `n` elements making the
    /// bytes a token `format` stores (1152 or 576·2 for native, 576 for per-tensor FP8, 656 for
    /// DeepSeek, 584 for MODEL1). A MODEL1 cache, addressed a page at a time, must also keep each
    /// page whole: its dimension-1 stride 584 bytes and its page stride at least `P · 584` bytes.
    /// `argument` names the cache (`kCache`, or `extraKCache`).
    static func checkCacheShape(_ kCache: TensorView, format: KVCacheFormat, queryType: ElementType,
                                argument: String = "kCache") throws(MLAError) {
        let pageSize = kCache.shape[1], hKV = kCache.shape[2]
        let tokenBytes = format.bytesPerToken(queryType: queryType)
        let tokenElements = tokenBytes / kCache.elementType.byteCount
        guard (1 ... KVCacheFormat.maxPageSize).contains(pageSize) else {
            throw .invalidArgument(argument: argument, expected: "a page size (dimension 1) in 1...\(KVCacheFormat.maxPageSize)",
                                   given: "\(pageSize) in \(kCache.shapeDescription)")
        }
        guard kCache.shape[3] * kCache.elementType.byteCount == tokenBytes else {
            throw .invalidArgument(argument: argument,
                                   expected: "\(tokenElements) elements (\(tokenBytes) bytes) a token for the \(format) format",
                                   given: "\(kCache.shape[3] * kCache.elementType.byteCount) bytes in \(kCache.shapeDescription)")
        }
        guard hKV >= 1 else {
            throw .invalidArgument(argument: argument, expected: "h_kv >= 1", given: kCache.shapeDescription)
        }
        if format == .fp8DeepSeek || format == .fp8Model1, hKV != 1 {
            throw .invalidArgument(argument: argument, expected: "h_kv = 1 for the \(format) format",
                                   given: "h_kv = \(hKV) in \(kCache.shapeDescription)")
        }
        if format.isPageGrouped {
            let bytes = kCache.elementType.byteCount
            guard kCache.strides[1] * bytes == tokenBytes else {
                throw .invalidArgument(argument: argument, expected: "a dimension-1 stride of \(tokenBytes) bytes (a \(format) page is \(tokenBytes) · pageSize contiguous bytes)",
                                       given: "\(kCache.strides[1] * bytes) bytes (strides \(kCache.strides))")
            }
            guard kCache.shape[0] <= 1 || kCache.strides[0] * bytes >= pageSize * tokenBytes else {
                throw .invalidArgument(argument: argument, expected: "a page stride of at least \(pageSize * tokenBytes) bytes (pageSize · \(tokenBytes))",
                                       given: "\(kCache.strides[0] * bytes) bytes (strides \(kCache.strides))")
            }
        }
    }
}
