// The argument checks of a sparse call's extra cache (FlashMLA's extra_k_cache) and its lists.
extension Validation {
    /// Throws unless the extra cache of `sparse` is absent (then `extraIndices` and
    /// `extraTopkLength` must be too) or complete and consistent: `extraKCache` in `format`, which
    /// must be ``KVCacheFormat/fp8Model1`` (as FlashMLA's Hopper kernels, which refuse an extra
    /// cache for V3.2), `h_kv = 1`, its own page size in 1 … 256; `extraIndices` Int32
    /// `[b, s_q, extra_topk]` with `extra_topk ≥ 1` and innermost stride 1; `extraTopkLength` a
    /// contiguous Int32 `[b]` or nil; and the longest scheduled sequence,
    /// ``SparseIndices/scheduledLength(topkLength:extraTopkLength:)`` of `topk` and `extra_topk`,
    /// at most 2³¹ − 1 positions. Memory and contents are checked with the call's other tensors.
    static func checkExtraCache(_ sparse: SparseIndices, batchSize b: Int, queryLength sQ: Int, format: KVCacheFormat,
                                queryType: ElementType) throws(MLAError) {
        guard let extraCache = sparse.extraKCache else {
            if let extraIndices = sparse.extraIndices {
                throw .invalidArgument(argument: "extraIndices", expected: "nil without extraKCache (extra indices need an extra cache)",
                                       given: "\(extraIndices.elementType)\(extraIndices.shapeDescription)")
            }
            if let extraTopkLength = sparse.extraTopkLength {
                throw .invalidArgument(argument: "extraTopkLength", expected: "nil without extraKCache (extra lengths need an extra cache)",
                                       given: "\(extraTopkLength.elementType)\(extraTopkLength.shapeDescription)")
            }
            return
        }
        guard format == .fp8Model1 else {
            throw .invalidArgument(argument: "extraKCache", expected: "nil for the \(format) format (an extra cache needs model1)",
                                   given: extraCache.shapeDescription)
        }
        try checkRank(extraCache, "extraKCache", 4, layout: "[extraNumPages, extraPageSize, 1, \(tokenColumns(format))]")
        try checkCacheType(extraCache, format: format, queryType: queryType, argument: "extraKCache")
        try checkCacheShape(extraCache, format: format, queryType: queryType, argument: "extraKCache")
        try checkInnermostStride(extraCache, "extraKCache")

        guard let extraIndices = sparse.extraIndices else {
            throw .invalidArgument(argument: "extraIndices", expected: "int32[\(b), \(sQ), extra_topk] with extraKCache",
                                   given: "nil")
        }
        try checkRank(extraIndices, "extraIndices", 3, layout: "[b, s_q, extra_topk]")
        try checkType(extraIndices, "extraIndices", .int32)
        let extraTopk = extraIndices.shape[2]
        let limit = Int(Int32.max) - SparseIndices.mainBlockPositions(topkLength: sparse.topk)
        guard extraIndices.shape[0] == b, extraIndices.shape[1] == sQ, extraTopk >= 1, extraTopk <= limit else {
            throw .invalidArgument(argument: "extraIndices", expected: "int32[\(b), \(sQ), extra_topk] with 1 <= extra_topk <= \(limit)",
                                   given: extraIndices.shapeDescription)
        }
        try checkInnermostStride(extraIndices, "extraIndices")
        if let extraTopkLength = sparse.extraTopkLength {
            try checkTopkLength(extraTopkLength, batchSize: b, argument: "extraTopkLength")
        }
    }

    /// Each request's scheduled length (``SparseIndices/scheduledLength(topkLength:extraTopkLength:)``)
    /// from its main and extra counts, or nil when either is unknown to the host.
    static func scheduledLengths(main: [Int32]?, extra: [Int32]?) -> [Int32]? {
        guard let main, let extra else { return nil }
        return zip(main, extra).map {
            Int32(SparseIndices.scheduledLength(topkLength: Int($0.0), extraTopkLength: Int($0.1)))
        }
    }

    /// The last dimension of a cache in `format`, as the errors name it: 576 in `q`'s type (or per-tensor
    /// FP8), else the format's bytes a token (656, 584).
    static func tokenColumns(_ format: KVCacheFormat) -> Int {
        switch format {
        case .native, .fp8PerTensor: DecodeProblem.headDim
        case .fp8DeepSeek, .fp8Model1: format.bytesPerToken(queryType: .uint8)
        }
    }
}
