// MLAEngine's sparse decoding and the calls that take an MLASchedule.
/// Sparse decoding (FlashMLA's `indices` mode, DeepSeek-V3.2) and the calls that take an
/// ``MLASchedule`` instead of metadata (FlashMLA's current calling convention).
extension MLAEngine {
    /// The schedule of a sparse decode: FlashMLA's `get_mla_metadata` over each request's count
    /// of index entries (`sparse.topkLength[i]`, or `topk`) for `queryRows = s_q · h_q` rows of
    /// one KV head. `sparse.topkLength`, when given, must be in the backend's memory.
    public func getMLAMetadata(sparse: SparseIndices, queryRows: Int) throws(MLAError) -> MLAMetadata {
        try getMLAMetadata(MetadataRequest(sparse: sparse, queryRows: queryRows, backend: backend))
    }

    /// Validates the inputs of a sparse decode call on this engine's backend (``DecodeInputs``):
    /// needs no outputs and no schedule, touches no device, allocates nothing.
    public func validate(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, softmaxScale: Float? = nil,
        kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil
    ) throws(MLAError) -> DecodeInputs {
        try DecodeInputs(q: q, kCache: kCache, indices: sparse, headDimV: headDimV, softmaxScale: softmaxScale,
                         kvFormat: kvFormat, attnSink: attnSink, backend: backend)
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
        let inputs = try validate(q: q, kCache: kCache, indices: sparse, headDimV: headDimV, softmaxScale: softmaxScale,
                                  kvFormat: kvFormat, attnSink: attnSink)
        try flashMLAWithKVCache(DecodeProblem(inputs, metadata: metadata, out: out, lse: lse),
                                workspace: workspace, stream: stream)
    }

    /// Sparse `flash_mla_with_kvcache` with FlashMLA's current convention: `schedule` is filled
    /// by the first call (see ``MLASchedule``); `out` and `lse` are allocated beside `q`.
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, indices sparse: SparseIndices, headDimV: Int, schedule: MLASchedule,
        softmaxScale: Float? = nil, kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        try flashMLAWithKVCache(validate(q: q, kCache: kCache, indices: sparse, headDimV: headDimV,
                                         softmaxScale: softmaxScale, kvFormat: kvFormat, attnSink: attnSink),
                                schedule: schedule)
    }

    /// Dense `flash_mla_with_kvcache` with FlashMLA's current convention: `schedule` is filled by
    /// the first call (see ``MLASchedule``); `out` and `lse` are allocated beside `q`. Otherwise
    /// as ``flashMLAWithKVCache(q:kCache:blockTable:cacheSeqlens:headDimV:metadata:softmaxScale:causal:kvFormat:attnSink:)``.
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView, headDimV: Int,
        schedule: MLASchedule, softmaxScale: Float? = nil, causal: Bool = false, kvFormat: KVCacheFormat = .native,
        attnSink: TensorView? = nil
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        try flashMLAWithKVCache(validate(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                         headDimV: headDimV, softmaxScale: softmaxScale, causal: causal,
                                         kvFormat: kvFormat, attnSink: attnSink),
                                schedule: schedule)
    }

    /// The decode of validated inputs with FlashMLA's current convention: `schedule` is checked
    /// against the inputs' ``MLASchedule/Configuration``, filled on its first use (on CUDA the
    /// scheduler kernel is queued on the backend's stream, no host wait), and its metadata
    /// checked against the inputs once, with the outputs, which are allocated beside `q`.
    public func flashMLAWithKVCache(_ inputs: DecodeInputs, schedule: MLASchedule) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        try checkBackend(inputs.backend, "inputs")
        let metadata = try schedule.resolve(MLASchedule.Configuration(inputs)) { () throws(MLAError) -> MLAMetadata in
            try self.getMLAMetadata(MetadataRequest(inputs))
        }
        return try flashMLAWithKVCache(inputs, metadata: metadata)
    }
}
