// MLAEngine's sparse decoding and the calls that take an MLASchedule.
/// Sparse decoding (FlashMLA's `indices` mode, DeepSeek-V3.2) and the calls that take an
/// ``MLASchedule`` instead of metadata (FlashMLA's current calling convention).
extension MLAEngine {
    /// The schedule of a sparse decode: FlashMLA's `get_mla_metadata` over each request's count
    /// of index entries (`sparse.topkLength[i]`, or `topk`) for `queryRows = s_q · h_q` rows of
    /// one KV head. `sparse.topkLength`, when given, must be in the backend's memory.
    public func getMLAMetadata(sparse: SparseIndices, queryRows: Int) throws(MLAError) -> MLAMetadata {
        try Validation.checkRank(sparse.indices, "indices", 3, layout: "[b, s_q, topk]")
        let batch = sparse.indices.shape[0], topk = sparse.topk
        guard batch >= 1, topk >= 1 else {
            throw .invalidArgument(argument: "indices", expected: "[b, s_q, topk] with b, topk >= 1",
                                   given: sparse.indices.shapeDescription)
        }
        guard queryRows >= 1 else {
            throw .invalidArgument(argument: "queryRows", expected: ">= 1", given: "\(queryRows)")
        }
        switch backend {
        case .cpu:
            if let topkLength = sparse.topkLength {
                try Validation.checkRank(topkLength, "topkLength", 1, layout: "[b]")
                try Validation.checkType(topkLength, "topkLength", .int32)
                try Validation.checkShape(topkLength, "topkLength", [batch])
                try Validation.checkStorage(topkLength, "topkLength", backend: backend)
            }
            let lengths = try Validation.sparseLengths(sparse, batchSize: batch) ?? []
            let parts = TileSchedule.numSMParts(multiprocessors: cpuMultiprocessors, rowsPerKVHead: queryRows, kvHeads: 1)
            let shape = MetadataShape(batchSize: batch, rowsPerKVHead: queryRows, kvHeads: 1, numSMParts: parts)
            return MLAMetadata(shape: shape, hostSchedule: TileSchedule(cacheSeqlens: lengths, numSMParts: parts,
                                                                        rowsPerKVHead: queryRows))
        case .cuda:
            let cuda = cudaBackend!
            let parts = try cuda.numSMParts(rowsPerKVHead: queryRows, kvHeads: 1)
            let schedule = try cuda.allocate(elementType: .int32, shape: [parts, TileSchedule.fieldsPerPart])
            let splits = try cuda.allocate(elementType: .int32, shape: [batch + 1])
            let written = try cuda.sparseMetadata(topkLength: sparse.topkLength, batchSize: batch, topk: topk,
                                                  queryRows: queryRows, tileSchedulerMetadata: schedule.view,
                                                  numSplits: splits.view, stream: cuda.stream)
            return MLAMetadata(shape: written.shape, tileSchedulerMetadata: schedule.view, numSplits: splits.view,
                               hostSchedule: nil, owners: [schedule, splits])
        }
    }

    /// Sparse `flash_mla_with_kvcache` into caller-owned `out` and `lse`: query token `j` of
    /// request `i` attends to the cache slots `sparse.indices[i][j][0 ..< topkLength[i]]` (``SparseIndices``;
    /// `−1` skipped), without a causal mask. `kCache` is `[numPages, P, 1, 576]` in `q`'s type or
    /// uint8 `[numPages, P, 1, 656]` with `kvFormat: .fp8DeepSeek`; `metadata` comes from
    /// ``getMLAMetadata(sparse:queryRows:)``. A row that sees no valid slot gets out 0, lse `+∞`.
    /// On CUDA: no allocation (unless `workspace` must grow), no host wait.
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, metadata: MLAMetadata,
        softmaxScale: Float? = nil, kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil,
        out: TensorView, lse: TensorView, workspace: Workspace? = nil, stream: ExecutionStream? = nil
    ) throws(MLAError) {
        let problem = try DecodeProblem(q: q, kCache: kCache, sparse: sparse, headDimV: headDimV, metadata: metadata,
                                        softmaxScale: softmaxScale, kvFormat: kvFormat, attnSink: attnSink,
                                        out: out, lse: lse, backend: backend)
        try run(problem, workspace: workspace, stream: stream)
    }

    /// Sparse `flash_mla_with_kvcache` with FlashMLA's current convention: `schedule` is filled
    /// by the first call (see ``MLASchedule``); `out` and `lse` are allocated beside `q`.
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, schedule: MLASchedule,
        softmaxScale: Float? = nil, kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        let validate = { (metadata: MLAMetadata, out: TensorView, lse: TensorView) throws(MLAError) -> DecodeProblem in
            try DecodeProblem(q: q, kCache: kCache, sparse: sparse, headDimV: headDimV, metadata: metadata,
                              softmaxScale: softmaxScale, kvFormat: kvFormat, attnSink: attnSink,
                              out: out, lse: lse, backend: self.backend)
        }
        let configuration = try scheduleConfiguration(q: q, kCache: kCache, causal: false, kvFormat: kvFormat,
                                                      topk: sparse.topk, validate: validate)
        return try scheduledCall(configuration, schedule: schedule, q: q, headDimV: headDimV,
                                 makeMetadata: { () throws(MLAError) in
                                     try self.getMLAMetadata(sparse: sparse, queryRows: q.shape[1] * q.shape[2])
                                 }, validate: validate)
    }

    /// Dense `flash_mla_with_kvcache` with FlashMLA's current convention: `schedule` is filled by
    /// the first call (see ``MLASchedule``); `out` and `lse` are allocated beside `q`. Otherwise
    /// as ``flashMLAWithKVCache(q:kCache:blockTable:cacheSeqlens:headDimV:metadata:softmaxScale:causal:kvFormat:attnSink:)``.
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView, headDimV: Int,
        schedule: MLASchedule, softmaxScale: Float? = nil, causal: Bool = false, kvFormat: KVCacheFormat = .native,
        attnSink: TensorView? = nil
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        let validate = { (metadata: MLAMetadata, out: TensorView, lse: TensorView) throws(MLAError) -> DecodeProblem in
            try DecodeProblem(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
                              metadata: metadata, softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat,
                              attnSink: attnSink, out: out, lse: lse, backend: self.backend)
        }
        let configuration = try scheduleConfiguration(q: q, kCache: kCache, causal: causal, kvFormat: kvFormat,
                                                      topk: nil, validate: validate)
        return try scheduledCall(configuration, schedule: schedule, q: q, headDimV: headDimV,
                                 makeMetadata: { () throws(MLAError) in
                                     let hKV = kCache.shape[2]
                                     return try self.getMLAMetadata(cacheSeqlens: cacheSeqlens,
                                                                    rowsPerKVHead: q.shape[1] * q.shape[2] / hKV,
                                                                    kvHeads: hKV)
                                 }, validate: validate)
    }

    // MARK: - Support

    /// The decode of a validated problem on this engine's backend.
    func run(_ problem: DecodeProblem, workspace: Workspace?, stream: ExecutionStream?) throws(MLAError) {
        switch backend {
        case .cpu: CPUBackend.decode(problem, mode: .splitKV)
        case .cuda: try cudaBackend!.decode(problem, workspace: workspace, stream: stream)
        }
    }

    /// A scheduled call's configuration, read from the shapes of `q` and `kCache`; where they are
    /// not even of the right ranks, `validate` (against placeholder metadata) names the problem.
    private func scheduleConfiguration(
        q: TensorView, kCache: TensorView, causal: Bool, kvFormat: KVCacheFormat, topk: Int?,
        validate: (MLAMetadata, TensorView, TensorView) throws(MLAError) -> DecodeProblem
    ) throws(MLAError) -> MLASchedule.Configuration {
        guard q.rank == 4, kCache.rank == 4, q.shape[0] >= 1, q.shape[1] >= 1, q.shape[2] >= 1,
              kCache.shape[2] >= 1, q.shape[2] % kCache.shape[2] == 0 else {
            _ = try validate(try placeholderMetadata(batch: 1, rows: 1, kvHeads: 1), q, q)
            throw .invalidArgument(argument: "q, kCache", expected: "[b, s_q, h_q, 576] and [numPages, pageSize, h_kv, …] with h_kv dividing h_q",
                                   given: "\(q.shapeDescription) and \(kCache.shapeDescription)")
        }
        return MLASchedule.Configuration(batchSize: q.shape[0], queryLength: q.shape[1], queryHeads: q.shape[2],
                                         pageSize: kCache.shape[1], kvHeads: kCache.shape[2], causal: causal,
                                         kvFormat: kvFormat, topk: topk)
    }

    /// Metadata of the shape a call needs, pointing nowhere (device address 0; on the CPU an
    /// empty host schedule), for validation only.
    private func placeholderMetadata(batch: Int, rows: Int, kvHeads: Int) throws(MLAError) -> MLAMetadata {
        switch backend {
        case .cpu:
            let parts = TileSchedule.numSMParts(multiprocessors: cpuMultiprocessors, rowsPerKVHead: rows, kvHeads: kvHeads)
            let shape = MetadataShape(batchSize: batch, rowsPerKVHead: rows, kvHeads: kvHeads, numSMParts: parts)
            return MLAMetadata(shape: shape, hostSchedule: TileSchedule(cacheSeqlens: [Int32](repeating: 0, count: batch),
                                                                        numSMParts: parts, rowsPerKVHead: rows))
        case let .cuda(ordinal):
            let parts = try cudaBackend!.numSMParts(rowsPerKVHead: rows, kvHeads: kvHeads)
            let storage = TensorStorage.device(ordinal: ordinal, address: 0)
            let shape = MetadataShape(batchSize: batch, rowsPerKVHead: rows, kvHeads: kvHeads, numSMParts: parts)
            return MLAMetadata(shape: shape,
                               tileSchedulerMetadata: TensorView(elementType: .int32, shape: [parts, TileSchedule.fieldsPerPart], storage: storage),
                               numSplits: TensorView(elementType: .int32, shape: [batch + 1], storage: storage),
                               hostSchedule: nil, owners: [])
        }
    }

    /// A scheduled call: checks `schedule` against `configuration`; validates every argument
    /// (against the schedule's metadata, or before the first call metadata of the right shape:
    /// on the CPU the host schedule, on CUDA one pointing nowhere) before anything is allocated;
    /// fills an empty schedule (``MLASchedule``); allocates `out` and `lse`; runs the decode on
    /// the backend's stream, where the schedule was written.
    private func scheduledCall(
        _ configuration: MLASchedule.Configuration, schedule: MLASchedule, q: TensorView, headDimV: Int,
        makeMetadata: () throws(MLAError) -> MLAMetadata,
        validate: (MLAMetadata, TensorView, TensorView) throws(MLAError) -> DecodeProblem
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        try schedule.check(configuration)
        let b = configuration.batchSize, sQ = configuration.queryLength, hQ = configuration.queryHeads
        let rows = sQ * hQ / configuration.kvHeads
        var metadata = schedule.metadata
        if metadata == nil, backend == .cpu { metadata = try makeMetadata() }   // host work only
        let candidate: MLAMetadata
        if let metadata { candidate = metadata } else {
            candidate = try placeholderMetadata(batch: b, rows: rows, kvHeads: configuration.kvHeads)
        }
        _ = try validate(candidate, TensorView(elementType: q.elementType, shape: [b, sQ, hQ, headDimV], storage: q.storage),
                         TensorView(elementType: .float32, shape: [b, hQ, sQ], storage: q.storage))
        let resolved = try schedule.resolve(configuration) { () throws(MLAError) -> MLAMetadata in
            if let metadata { return metadata }
            return try makeMetadata()
        }
        let out: Tensor, lse: Tensor
        switch backend {
        case .cpu:
            out = Tensor(hostElementType: q.elementType, shape: [b, sQ, hQ, headDimV])
            lse = Tensor(hostElementType: .float32, shape: [b, hQ, sQ])
        case .cuda:
            out = try cudaBackend!.allocate(elementType: q.elementType, shape: [b, sQ, hQ, headDimV])
            lse = try cudaBackend!.allocate(elementType: .float32, shape: [b, hQ, sQ])
        }
        try run(try validate(resolved, out.view, lse.view), workspace: nil, stream: nil)
        return (out, lse)
    }
}
