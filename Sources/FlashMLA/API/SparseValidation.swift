// The argument checks of a sparse decode call's inputs.
extension DecodeInputs {
    /// Validates the inputs of a sparse `flashMLAWithKVCache` (FlashMLA's `indices` mode) for
    /// `backend`.
    ///
    /// Checks, before any work: `q` bf16/fp16 `[b, s_q, h_q, d_qk]` with `d_qk` 576, or 512 for
    /// ``KVCacheFormat/fp8Model1`` (FlashMLA picks MODEL1 by `d_qk = 512`; here the format says it
    /// and `q` must agree); `kCache` in `kvFormat` (``KVCacheFormat/native``,
    /// ``KVCacheFormat/fp8DeepSeek`` or ``KVCacheFormat/fp8Model1``; its bytes a token and a page
    /// size in 1 … 256, see ``Validation/checkCacheShape(_:format:queryType:argument:)``) with
    /// `h_kv = 1`; `sparse.indices` Int32 `[b, s_q, topk]` (`topk ≥ 1`, innermost stride 1);
    /// `sparse.topkLength` Int32 `[b]`, contiguous; the extra cache (MODEL1 only: `extraKCache` in
    /// the same format, `extraIndices` Int32 `[b, s_q, extra_topk]` required with it,
    /// `extraIndices` and `extraTopkLength` refused without it); `attnSink` and the scale as for
    /// dense decoding (default scale `1/√d_qk`); every tensor in `backend`'s memory. Where the host
    /// can read them it also checks the contents: each `topkLength` in `0 ... topk` (each
    /// `extraTopkLength` in `0 ... extra_topk`), and each counted index `−1` or a slot of its cache
    /// (`0 ..< numPages · pageSize`).
    ///
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    public init(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, softmaxScale: Float? = nil,
        kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil, backend: Backend
    ) throws(MLAError) {
        let headDim = kvFormat.queryHeadDim
        let indices = sparse.indices
        try Validation.checkRank(q, "q", 4, layout: "[b, s_q, h_q, \(headDim)]")
        try Validation.checkQueryType(q)
        if case .fp8PerTensor = kvFormat {
            throw .invalidArgument(argument: "kvFormat", expected: "native, fp8-ds or model1 for sparse decoding",
                                   given: "\(kvFormat)")
        }
        if q.shape[3] == Model1Layout.headDim, kvFormat != .fp8Model1 {
            throw .invalidArgument(argument: "q", expected: "[b, s_q, h_q, \(headDim)] for the \(kvFormat) format (d_qk = 512 is MODEL1: kvFormat fp8Model1)",
                                   given: q.shapeDescription)
        }
        let (b, sQ, hQ) = try Validation.checkQueryShape(q, headDimV: headDimV, headDim: headDim)
        try Validation.checkRank(kCache, "kCache", 4, layout: "[numPages, pageSize, 1, \(Validation.tokenColumns(kvFormat))]")
        try Validation.checkCacheType(kCache, format: kvFormat, queryType: q.elementType)
        try Validation.checkCacheShape(kCache, format: kvFormat, queryType: q.elementType)
        let numPages = kCache.shape[0], pageSize = kCache.shape[1]
        guard kCache.shape[2] == 1 else {
            throw .invalidArgument(argument: "kCache", expected: "h_kv = 1 for sparse decoding",
                                   given: "h_kv = \(kCache.shape[2]) in \(kCache.shapeDescription)")
        }

        try Validation.checkRank(indices, "indices", 3, layout: "[b, s_q, topk]")
        try Validation.checkType(indices, "indices", .int32)
        let topk = indices.shape[2]
        guard indices.shape[0] == b, indices.shape[1] == sQ, topk >= 1, topk <= Int(Int32.max) else {
            throw .invalidArgument(argument: "indices", expected: "int32[\(b), \(sQ), topk] with topk >= 1",
                                   given: indices.shapeDescription)
        }
        try Validation.checkInnermostStride(indices, "indices")
        if let topkLength = sparse.topkLength { try Validation.checkTopkLength(topkLength, batchSize: b) }
        try Validation.checkExtraCache(sparse, batchSize: b, queryLength: sQ, format: kvFormat, queryType: q.elementType)
        try Validation.checkInnermostStride(q, "q")
        try Validation.checkInnermostStride(kCache, "kCache")
        var placed = [(q, "q"), (kCache, "kCache"), (indices, "indices")]
        if let topkLength = sparse.topkLength { placed.append((topkLength, "topkLength")) }
        for (view, name) in [(sparse.extraKCache, "extraKCache"), (sparse.extraIndices, "extraIndices"),
                             (sparse.extraTopkLength, "extraTopkLength")] {
            if let view { placed.append((view, name)) }
        }
        for (view, name) in placed { try Validation.checkStorage(view, name, backend: backend) }
        try Validation.checkKernelAlignment(q: q, kCache: kCache, format: kvFormat, sparse: true, backend: backend)
        if let extra = sparse.extraKCache {
            try Validation.checkKernelAlignment(q: q, kCache: extra, format: kvFormat, sparse: true, backend: backend,
                                                cacheArgument: "extraKCache")
        }

        let scale = try Validation.checkSoftmaxScale(softmaxScale, headDim: headDim)
        try Validation.checkAttnSink(attnSink, queryHeads: hQ, backend: backend)

        // Contents, where the host can read them.
        let lengths = try Validation.sparseLengths(topkLength: sparse.topkLength, batchSize: b, topk: topk)
        if let lengths, indices.hostPointer != nil {
            try Validation.checkSparseIndices(indices, lengths: lengths, slots: numPages * pageSize)
        }
        var scheduled = lengths
        if let extraCache = sparse.extraKCache, let extraIndices = sparse.extraIndices {
            let extraLengths = try Validation.sparseLengths(topkLength: sparse.extraTopkLength, batchSize: b,
                                                            topk: sparse.extraTopk, argument: "extraTopkLength",
                                                            listArgument: "extraIndices")
            if let extraLengths, extraIndices.hostPointer != nil {
                try Validation.checkSparseIndices(extraIndices, lengths: extraLengths,
                                                  slots: extraCache.shape[0] * extraCache.shape[1], argument: "extraIndices")
            }
            scheduled = Validation.scheduledLengths(main: lengths, extra: extraLengths)
        }

        self.init(backend: backend, batchSize: b, queryLength: sQ, queryHeads: hQ, kvHeads: 1, pageSize: pageSize,
                  kvFormat: kvFormat, softmaxScale: scale, causal: false, q: q, kCache: kCache, blockTable: indices,
                  cacheSeqlens: sparse.topkLength ?? indices, attnSink: attnSink, sparse: sparse, hostLengths: scheduled)
    }
}

extension Validation {
    /// Throws unless `topkLength` (or `extraTopkLength`, as `argument` names it) is a contiguous
    /// Int32 `[b]` (its memory is checked with the call's other tensors).
    static func checkTopkLength(_ topkLength: TensorView, batchSize: Int, argument: String = "topkLength") throws(MLAError) {
        try checkRank(topkLength, argument, 1, layout: "[b]")
        try checkType(topkLength, argument, .int32)
        try checkShape(topkLength, argument, [batchSize])
        try checkContiguous(topkLength, argument)
    }

    /// Each request's count of index entries, `topkLength[i]` (checked to be in `0 ... topk`) or
    /// `topk`; nil when `topkLength` is in device memory (the host cannot read it). `argument` and
    /// `listArgument` name the lengths and their lists in errors (`extraTopkLength`, `extraIndices`).
    static func sparseLengths(topkLength: TensorView?, batchSize: Int, topk: Int, argument: String = "topkLength",
                              listArgument: String = "indices") throws(MLAError) -> [Int32]? {
        guard let topkLength else { return Array(repeating: Int32(topk), count: batchSize) }
        guard topkLength.hostPointer != nil else { return nil }
        let lengths = hostInt32(topkLength)
        for (index, length) in lengths.enumerated() where length < 0 || Int(length) > topk {
            throw .invalidArgument(argument: "\(argument)[\(index)]",
                                   expected: "0...\(topk) (\(argument == "topkLength" ? "topk" : "extra_topk"), dimension 2 of \(listArgument))",
                                   given: "\(length)")
        }
        return lengths
    }

    /// Throws unless each counted entry of `indices` (the first `lengths[i]` of request `i`'s
    /// lists) is `−1` or a slot of the cache, `0 ..< slots`; `argument` names the lists in errors.
    static func checkSparseIndices(_ indices: TensorView, lengths: [Int32], slots: Int,
                                   argument: String = "indices") throws(MLAError) {
        let elements = HostElements(indices)
        for request in 0 ..< indices.shape[0] {
            for token in 0 ..< indices.shape[1] {
                for entry in 0 ..< Int(lengths[request]) {
                    let slot = elements.int32(offset: elements.offset([request, token, entry]))
                    guard slot == -1 || (slot >= 0 && Int(slot) < slots) else {
                        throw .invalidArgument(argument: "\(argument)[\(request)][\(token)][\(entry)]",
                                               expected: "-1 or a cache slot in 0..<\(slots) (numPages · pageSize)",
                                               given: "\(slot)")
                    }
                }
            }
        }
    }
}
