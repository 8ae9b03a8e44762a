// DecodeInputs: a decode call's inputs, validated (the validation entry point; no outputs needed).
/// A decode call's inputs, validated: the query, the cache, where each query row reads it
/// (a block table and lengths, or sparse indices), the scale, the mask and the sink.
///
/// This is the validation entry point of a decode call. It checks everything the call takes
/// except its schedule (``MLAMetadata``) and its outputs, needs neither, touches no device and
/// allocates nothing; ``DecodeProblem/init(_:metadata:out:lse:)`` then checks only those three.
/// So each check of a call runs once: validate (here) → schedule → launch → combine.
///
/// ```swift
/// let inputs = try engine.validate(q: q, kCache: cache, blockTable: table, cacheSeqlens: lengths,
///                                  headDimV: 512, causal: true)
/// let (out, lse) = try engine.flashMLAWithKVCache(inputs, metadata: metadata)
/// ```
public struct DecodeInputs: Sendable {
    /// The backend whose memory the tensors were checked to live in.
    public let backend: Backend
    /// Requests, `b`.
    public let batchSize: Int
    /// New query tokens per request, `s_q`.
    public let queryLength: Int
    /// Query heads, `h_q`.
    public let queryHeads: Int
    /// KV heads, `h_kv`.
    public let kvHeads: Int
    /// Pages in the cache.
    public let numPages: Int
    /// Tokens a page, `P` (1 … 256): dimension 1 of `kCache`. Token `t` of a request lives in
    /// page `blockTable[t / P]`, slot `t % P`.
    public let pageSize: Int
    /// How the cache stores a token.
    public let kvFormat: KVCacheFormat
    /// Entries per block-table row (sparse: `topk`).
    public let maxPagesPerRequest: Int
    /// The type of `q` and `out` (and of `kCache` in the native format).
    public let elementType: ElementType
    /// The factor applied to `q·k` before the softmax.
    public let softmaxScale: Float
    /// Whether query row `j` sees only keys `0 … seqlen − s_q + j` (``CausalMask``).
    public let causal: Bool
    /// `[b, s_q, h_q, 576]` (MODEL1: `[b, s_q, h_q, 512]`).
    public let q: TensorView
    /// `[numPages, P, h_kv, 576]` (native, per-tensor FP8) or uint8 `[numPages, P, 1, 656]` or
    /// `[numPages, P, 1, 584]` (MODEL1).
    public let kCache: TensorView
    /// Int32 `[b, maxPagesPerRequest]` (sparse: `sparse.indices`).
    public let blockTable: TensorView
    /// Int32 `[b]` (sparse: `sparse.topkLength ?? sparse.indices`; read as neither).
    public let cacheSeqlens: TensorView
    /// Float32 `[h_q]`, FlashMLA's `attn_sink`, or nil: each final output row of head `h` is
    /// multiplied by `exp(lse) / (exp(lse) + exp(attnSink[h]))`; `lse` is reported unchanged.
    public let attnSink: TensorView?
    /// The sparse selection, or nil for dense decoding. When set, `blockTable` is
    /// `sparse.indices`, `maxPagesPerRequest` is `topk` and `causal` is false.
    public let sparse: SparseIndices?
    /// Each request's length (dense: `cacheSeqlens`; sparse: its scheduled length,
    /// ``SparseIndices/scheduledLength(topkLength:extraTopkLength:)``) when the host can read it, else nil.
    let hostLengths: [Int32]?

    /// Query heads per KV head, `h_q / h_kv`.
    public var groupSize: Int { queryHeads / kvHeads }
    /// Query rows that share a KV head, `s_q · h_q / h_kv`.
    public var rowsPerKVHead: Int { queryLength * groupSize }
    /// Whether this is a sparse decode (``sparse`` set).
    public var isSparse: Bool { sparse != nil }
    /// The head dimension of `q` and the keys, `d_qk`: 576, or 512 for ``KVCacheFormat/fp8Model1``.
    public var queryHeadDim: Int { kvFormat.queryHeadDim }
    /// Whether a sparse decode has an extra cache (``SparseIndices/extraKCache``).
    public var hasExtraCache: Bool { sparse?.hasExtraCache ?? false }
    /// Tokens a page of the extra cache (dimension 1 of `extraKCache`); 0 without one.
    public var extraPageSize: Int { sparse?.extraKCache?.shape[1] ?? 0 }
    /// Pages in the extra cache (dimension 0 of `extraKCache`); 0 without one.
    public var extraNumPages: Int { sparse?.extraKCache?.shape[0] ?? 0 }
    /// The rows one decode tile may hold: all `rowsPerKVHead` for dense decoding, one query
    /// token's `h_q / h_kv` for sparse decoding (each token has its own keys).
    public var rowsPerTile: Int { isSparse ? groupSize : rowsPerKVHead }
    /// The shape of `out`: `[b, s_q, h_q, 512]`, in `q`'s type.
    public var outShape: [Int] { [batchSize, queryLength, queryHeads, DecodeProblem.headDimV] }
    /// The shape of `lse`: Float32 `[b, h_q, s_q]`.
    public var lseShape: [Int] { [batchSize, queryHeads, queryLength] }
    /// The shape the call's metadata must have been made for, with `numSMParts` workers.
    public func metadataShape(numSMParts: Int) -> MetadataShape {
        MetadataShape(batchSize: batchSize, rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads, numSMParts: numSMParts)
    }

    /// Records checked inputs (the validating initializers end here).
    init(backend: Backend, batchSize: Int, queryLength: Int, queryHeads: Int, kvHeads: Int, pageSize: Int,
         kvFormat: KVCacheFormat, softmaxScale: Float, causal: Bool, q: TensorView, kCache: TensorView,
         blockTable: TensorView, cacheSeqlens: TensorView, attnSink: TensorView?, sparse: SparseIndices?,
         hostLengths: [Int32]?) {
        self.backend = backend
        self.batchSize = batchSize
        self.queryLength = queryLength
        self.queryHeads = queryHeads
        self.kvHeads = kvHeads
        self.numPages = kCache.shape[0]
        self.pageSize = pageSize
        self.kvFormat = kvFormat
        self.maxPagesPerRequest = blockTable.shape[sparse == nil ? 1 : 2]
        self.elementType = q.elementType
        self.softmaxScale = softmaxScale
        self.causal = causal
        self.q = q
        self.kCache = kCache
        self.blockTable = blockTable
        self.cacheSeqlens = cacheSeqlens
        self.attnSink = attnSink
        self.sparse = sparse
        self.hostLengths = hostLengths
    }
}

extension DecodeInputs {
    /// Validates the inputs of a dense `flashMLAWithKVCache` for `backend`.
    ///
    /// Checks ranks, shapes, element types, layouts (`q`, `kCache` and `blockTable` with a unit
    /// innermost stride, `cacheSeqlens` contiguous), the cache against `kvFormat` (its type, a
    /// page size in 1 … 256, its bytes a token; see ``Validation/checkCacheShape(_:format:queryType:)``),
    /// that every tensor lives in `backend`'s memory (on CUDA with the kernels' 16-byte
    /// alignment), the softmax scale (finite and > 0) and the sink. When `cacheSeqlens` and
    /// `blockTable` are in host memory it also checks their contents: each length fits its
    /// block-table row and every page a request uses is a page of `kCache`.
    ///
    /// - Parameters:
    ///   - softmaxScale: `nil` for the default `1/√576`.
    ///   - kvFormat: how `kCache` stores a token (default: in `q`'s type).
    ///   - attnSink: Float32 `[h_q]`, contiguous, or nil.
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    public init(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView, headDimV: Int,
        softmaxScale: Float? = nil, causal: Bool = false, kvFormat: KVCacheFormat = .native,
        attnSink: TensorView? = nil, backend: Backend
    ) throws(MLAError) {
        let headDim = DecodeProblem.headDim
        guard kvFormat != .fp8Model1 else {
            throw .invalidArgument(argument: "kvFormat", expected: "native, fp8 or fp8-ds for dense decoding (model1 is sparse only)",
                                   given: "\(kvFormat)")
        }

        // Ranks and element types.
        try Validation.checkRank(q, "q", 4, layout: "[b, s_q, h_q, \(headDim)]")
        try Validation.checkRank(kCache, "kCache", 4, layout: "[numPages, pageSize, h_kv, \(Validation.tokenColumns(kvFormat))]")
        try Validation.checkRank(blockTable, "blockTable", 2, layout: "[b, maxPages]")
        try Validation.checkRank(cacheSeqlens, "cacheSeqlens", 1, layout: "[b]")
        try Validation.checkQueryType(q)
        try Validation.checkCacheType(kCache, format: kvFormat, queryType: q.elementType)
        try Validation.checkType(blockTable, "blockTable", .int32)
        try Validation.checkType(cacheSeqlens, "cacheSeqlens", .int32)

        // Sizes.
        let (b, sQ, hQ) = try Validation.checkQueryShape(q, headDimV: headDimV)
        let numPages = kCache.shape[0], pageSize = kCache.shape[1], hKV = kCache.shape[2]
        try Validation.checkCacheShape(kCache, format: kvFormat, queryType: q.elementType)
        guard hQ % hKV == 0 else {
            throw .invalidArgument(argument: "kCache", expected: "h_kv dividing h_q = \(hQ)",
                                   given: "h_kv = \(hKV) in \(kCache.shapeDescription)")
        }
        guard blockTable.shape[0] == b else {
            throw .invalidArgument(argument: "blockTable", expected: "[\(b), maxPages]", given: blockTable.shapeDescription)
        }
        let maxPages = blockTable.shape[1]
        try Validation.checkShape(cacheSeqlens, "cacheSeqlens", [b])

        // Layouts and memory.
        try Validation.checkInnermostStride(q, "q")
        try Validation.checkInnermostStride(kCache, "kCache")
        try Validation.checkInnermostStride(blockTable, "blockTable")
        try Validation.checkContiguous(cacheSeqlens, "cacheSeqlens")
        for (view, name) in [(q, "q"), (kCache, "kCache"), (blockTable, "blockTable"), (cacheSeqlens, "cacheSeqlens")] {
            try Validation.checkStorage(view, name, backend: backend)
        }
        try Validation.checkKernelAlignment(q: q, kCache: kCache, format: kvFormat, sparse: false, backend: backend)

        // Scale and sink.
        let scale = try Validation.checkSoftmaxScale(softmaxScale)
        try Validation.checkAttnSink(attnSink, queryHeads: hQ, backend: backend)

        // Contents, where the host can read them.
        var lengths: [Int32]? = nil
        if cacheSeqlens.hostPointer != nil {
            let values = Validation.hostInt32(cacheSeqlens)
            for (index, length) in values.enumerated() where length < 0 || Int(length) > maxPages * pageSize {
                throw .invalidArgument(argument: "cacheSeqlens[\(index)]",
                                       expected: "0...\(maxPages * pageSize) (blockTable row holds \(maxPages * pageSize) tokens)",
                                       given: "\(length)")
            }
            if blockTable.hostPointer != nil {
                try Validation.checkBlockIDs(blockTable, lengths: values, numPages: numPages, pageSize: pageSize)
            }
            lengths = values
        }

        self.init(backend: backend, batchSize: b, queryLength: sQ, queryHeads: hQ, kvHeads: hKV, pageSize: pageSize,
                  kvFormat: kvFormat, softmaxScale: scale, causal: causal, q: q, kCache: kCache,
                  blockTable: blockTable, cacheSeqlens: cacheSeqlens, attnSink: attnSink, sparse: nil,
                  hostLengths: lengths)
    }
}

extension Validation {
    /// Throws unless `q` is bfloat16 or float16.
    static func checkQueryType(_ q: TensorView) throws(MLAError) {
        guard q.elementType.isHalfPrecision else {
            throw .invalidArgument(argument: "q", expected: "bfloat16 or float16", given: "\(q.elementType)")
        }
    }

    /// On CUDA, throws unless `q` and `kCache` (named `cacheArgument` in errors: `kCache` or
    /// `extraKCache`) suit the kernels, which copy 16 bytes at a time:
    /// base addresses and the strides (other than the innermost) multiples of 16 bytes (8
    /// elements of 16 bits, 16 of FP8 or bytes); and for the kernels of other page sizes, FP8 and
    /// sparse decoding, which address a token inside its page in 32 bits, token and head strides
    /// of at most 2³¹ − 1 bytes. A MODEL1 cache (``KVCacheFormat/isPageGrouped``) is read from each
    /// page's start, 576 bytes a token: only its base and page stride must be multiples of 16.
    /// Nothing to check on the CPU.
    static func checkKernelAlignment(q: TensorView, kCache: TensorView, format: KVCacheFormat, sparse: Bool,
                                     backend: Backend, cacheArgument: String = "kCache") throws(MLAError) {
        guard case .cuda = backend else { return }
        for (name, view) in [("q", q), (cacheArgument, kCache)] {
            let bytes = view.elementType.byteCount, address = view.deviceAddress ?? 0
            // A page-grouped (MODEL1) cache is addressed from each page's start: only its page stride counts.
            let strides = name != "q" && format.isPageGrouped ? view.strides.prefix(1) : view.strides.dropLast()
            let aligned = address % 16 == 0 && strides.allSatisfy { ($0 * bytes) % 16 == 0 }
            guard aligned else {
                throw .invalidArgument(argument: name,
                                       expected: "a 16-byte aligned base and strides that are multiples of 16 bytes (\(16 / bytes) elements)",
                                       given: "address \(address), strides \(view.strides)")
            }
        }
        let bytes = kCache.elementType.byteCount
        if PortableCache(format: format, pageSize: kCache.shape[1], sparse: sparse) != .page64,
           let large = kCache.strides[1 ... 2].first(where: { $0 * bytes > Int(Int32.max) }) {
            throw .invalidArgument(argument: cacheArgument, expected: "token and head strides of at most \(Int32.max) bytes",
                                   given: "a stride of \(large * bytes) bytes (strides \(kCache.strides))")
        }
    }
}
