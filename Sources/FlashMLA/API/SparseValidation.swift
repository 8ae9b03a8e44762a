// The argument checks of a sparse decode call's inputs.
extension DecodeInputs {
    /// Validates the inputs of a sparse `flashMLAWithKVCache` (FlashMLA's `indices` mode) for
    /// `backend`.
    ///
    /// Checks, before any work: `q` bf16/fp16 `[b, s_q, h_q, 576]`; `kCache` in `kvFormat`
    /// (``KVCacheFormat/native`` or ``KVCacheFormat/fp8DeepSeek``; its bytes a token and a page
    /// size in 1 … 256, see ``Validation/checkCacheShape(_:format:queryType:)``) with `h_kv = 1`;
    /// `sparse.indices` Int32 `[b, s_q, topk]` (`topk ≥ 1`, innermost stride 1);
    /// `sparse.topkLength` Int32 `[b]`, contiguous; `attnSink` and the scale as for dense
    /// decoding; every tensor in `backend`'s memory. Where the host can read them it also checks
    /// the contents: each `topkLength` in `0 ... topk`, and each counted index `−1` or a slot of
    /// the cache (`0 ..< numPages · pageSize`).
    ///
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    public init(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, softmaxScale: Float? = nil,
        kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil, backend: Backend
    ) throws(MLAError) {
        let headDim = DecodeProblem.headDim
        let indices = sparse.indices
        try Validation.checkRank(q, "q", 4, layout: "[b, s_q, h_q, \(headDim)]")
        try Validation.checkQueryType(q)
        let (b, sQ, hQ) = try Validation.checkQueryShape(q, headDimV: headDimV)
        if case .fp8PerTensor = kvFormat {
            throw .invalidArgument(argument: "kvFormat", expected: "native or fp8-ds for sparse decoding",
                                   given: "\(kvFormat)")
        }
        try Validation.checkRank(kCache, "kCache", 4, layout: "[numPages, pageSize, 1, \(kvFormat == .fp8DeepSeek ? KVCacheFormat.deepSeekTokenBytes : headDim)]")
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
        try Validation.checkInnermostStride(q, "q")
        try Validation.checkInnermostStride(kCache, "kCache")
        var placed = [(q, "q"), (kCache, "kCache"), (indices, "indices")]
        if let topkLength = sparse.topkLength { placed.append((topkLength, "topkLength")) }
        for (view, name) in placed { try Validation.checkStorage(view, name, backend: backend) }
        try Validation.checkKernelAlignment(q: q, kCache: kCache, format: kvFormat, sparse: true, backend: backend)

        let scale = try Validation.checkSoftmaxScale(softmaxScale)
        try Validation.checkAttnSink(attnSink, queryHeads: hQ, backend: backend)

        // Contents, where the host can read them.
        let lengths = try Validation.sparseLengths(topkLength: sparse.topkLength, batchSize: b, topk: topk)
        if let lengths, indices.hostPointer != nil {
            try Validation.checkSparseIndices(indices, lengths: lengths, slots: numPages * pageSize)
        }

        self.init(backend: backend, batchSize: b, queryLength: sQ, queryHeads: hQ, kvHeads: 1, pageSize: pageSize,
                  kvFormat: kvFormat, softmaxScale: scale, causal: false, q: q, kCache: kCache, blockTable: indices,
                  cacheSeqlens: sparse.topkLength ?? indices, attnSink: attnSink, sparse: sparse, hostLengths: lengths)
    }
}

extension Validation {
    /// Throws unless `topkLength` is a contiguous Int32 `[b]` (its memory is checked with the
    /// call's other tensors).
    static func checkTopkLength(_ topkLength: TensorView, batchSize: Int) throws(MLAError) {
        try checkRank(topkLength, "topkLength", 1, layout: "[b]")
        try checkType(topkLength, "topkLength", .int32)
        try checkShape(topkLength, "topkLength", [batchSize])
        try checkContiguous(topkLength, "topkLength")
    }

    /// Each request's count of index entries, `topkLength[i]` (checked to be in `0 ... topk`) or
    /// `topk`; nil when `topkLength` is in device memory (the host cannot read it).
    static func sparseLengths(topkLength: TensorView?, batchSize: Int, topk: Int) throws(MLAError) -> [Int32]? {
        guard let topkLength else { return Array(repeating: Int32(topk), count: batchSize) }
        guard topkLength.hostPointer != nil else { return nil }
        let lengths = hostInt32(topkLength)
        for (index, length) in lengths.enumerated() where length < 0 || Int(length) > topk {
            throw .invalidArgument(argument: "topkLength[\(index)]", expected: "0...\(topk) (topk, dimension 2 of indices)",
                                   given: "\(length)")
        }
        return lengths
    }

    /// Throws unless each counted entry of `indices` (the first `lengths[i]` of request `i`'s
    /// lists) is `−1` or a slot of the cache, `0 ..< slots`.
    static func checkSparseIndices(_ indices: TensorView, lengths: [Int32], slots: Int) throws(MLAError) {
        let elements = HostElements(indices)
        for request in 0 ..< indices.shape[0] {
            for token in 0 ..< indices.shape[1] {
                for entry in 0 ..< Int(lengths[request]) {
                    let slot = elements.int32(offset: elements.offset([request, token, entry]))
                    guard slot == -1 || (slot >= 0 && Int(slot) < slots) else {
                        throw .invalidArgument(argument: "indices[\(request)][\(token)][\(entry)]",
                                               expected: "-1 or a cache slot in 0..<\(slots) (numPages · pageSize)",
                                               given: "\(slot)")
                    }
                }
            }
        }
    }
}
