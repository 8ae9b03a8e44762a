// MLAEngine: the entry point, getMLAMetadata and flashMLAWithKVCache.
/// The entry point: FlashMLA's two calls on a chosen backend.
///
/// ```swift
/// let engine = try MLAEngine()                       // CUDA if usable, else the CPU
/// let metadata = try engine.getMLAMetadata(cacheSeqlens: seqlens.view,
///                                          rowsPerKVHead: sQ * hQ / hKV, kvHeads: hKV)
/// let (out, lse) = try engine.flashMLAWithKVCache(
///     q: q.view, kCache: cache.view, blockTable: table.view, cacheSeqlens: seqlens.view,
///     headDimV: 512, metadata: metadata, causal: true)
/// ```
///
/// One way through every call: validate (``DecodeProblem``) → schedule (``TileSchedule``,
/// in `metadata`) → launch the split-KV attention → combine the splits.
public final class MLAEngine: @unchecked Sendable {
    /// The backend every call of this engine runs on.
    public let backend: Backend
    /// Workers' count basis for the CPU backend's schedule. Defaults to an H100's 132
    /// multiprocessors, so that the CPU splits requests as the GPU does.
    public let cpuMultiprocessors: Int
    private let cuda: CUDABackend?

    /// Creates an engine on `backend` (default: ``Backend/automatic()``).
    public init(backend: Backend = .automatic(), cpuMultiprocessors: Int = 132) throws(MLAError) {
        guard cpuMultiprocessors >= 1 else {
            throw .invalidArgument(argument: "cpuMultiprocessors", expected: ">= 1", given: "\(cpuMultiprocessors)")
        }
        self.backend = backend
        self.cpuMultiprocessors = cpuMultiprocessors
        switch backend {
        case .cpu: cuda = nil
        case let .cuda(ordinal): cuda = try CUDABackend.shared(device: ordinal)
        }
    }

    /// The CUDA backend of this engine, or `nil` on the CPU.
    public var cudaBackend: CUDABackend? { cuda }

    /// FlashMLA's `get_mla_metadata`: the split-KV tile schedule for these request lengths.
    ///
    /// - Parameters:
    ///   - cacheSeqlens: Int32 `[b]`, each request's length counting its new tokens; in host
    ///     memory on the CPU backend, in the engine device's memory on the CUDA backend.
    ///   - rowsPerKVHead: `s_q · h_q / h_kv`.
    ///   - kvHeads: `h_kv`.
    public func getMLAMetadata(cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> MLAMetadata {
        try Validation.checkMetadataArguments(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead,
                                              kvHeads: kvHeads, backend: backend)
        switch backend {
        case .cpu:
            let lengths = Validation.hostInt32(cacheSeqlens)
            let parts = TileSchedule.numSMParts(multiprocessors: cpuMultiprocessors,
                                                rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
            let shape = MetadataShape(batchSize: lengths.count, rowsPerKVHead: rowsPerKVHead,
                                      kvHeads: kvHeads, numSMParts: parts)
            let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: parts, rowsPerKVHead: rowsPerKVHead)
            return MLAMetadata(shape: shape, hostSchedule: schedule)
        case .cuda:
            return try cuda!.metadata(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead,
                                      kvHeads: kvHeads)
        }
    }

    /// FlashMLA's `flash_mla_with_kvcache`, allocating `out` and `lse` beside `q`.
    ///
    /// `kCache` is `[numPages, P, h_kv, 576]` with any page size `P` in 1 … 256 (token `t` of a
    /// request in page `blockTable[t / P]`, slot `t % P`), in `q`'s type or, with `kvFormat`,
    /// FP8 (``KVCacheFormat``).
    ///
    /// `attnSink` (Float32 `[h_q]`, FlashMLA's `attn_sink`) multiplies each output row of head `h`
    /// by `exp(lse) / (exp(lse) + exp(attnSink[h]))` and leaves `lse` as it is (`+∞` zeroes the
    /// head's output, `−∞` changes nothing).
    ///
    /// - Returns: `out` `[b, s_q, h_q, 512]` in `q`'s type and `lse` Float32 `[b, h_q, s_q]`
    ///   (natural log; `+∞` for a row that sees no key).
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView,
        headDimV: Int, metadata: MLAMetadata, softmaxScale: Float? = nil, causal: Bool = false,
        kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil
    ) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        guard q.rank == 4, headDimV == DecodeProblem.headDimV else {
            // Let validation name the argument; nothing is allocated for shapes it rejects.
            _ = try DecodeProblem(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                  headDimV: headDimV, metadata: metadata, softmaxScale: softmaxScale, causal: causal,
                                  kvFormat: kvFormat, attnSink: attnSink, out: q, lse: q, backend: backend)
            throw .invalidArgument(argument: "q", expected: "rank 4", given: q.shapeDescription)
        }
        let b = q.shape[0], sQ = q.shape[1], hQ = q.shape[2]
        let outShape = [b, sQ, hQ, headDimV], lseShape = [b, hQ, sQ]
        let out: Tensor, lse: Tensor
        switch backend {
        case .cpu:
            out = Tensor(hostElementType: q.elementType, shape: outShape)
            lse = Tensor(hostElementType: .float32, shape: lseShape)
        case .cuda:
            out = try cuda!.allocate(elementType: q.elementType, shape: outShape)
            lse = try cuda!.allocate(elementType: .float32, shape: lseShape)
        }
        try flashMLAWithKVCache(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                headDimV: headDimV, metadata: metadata, softmaxScale: softmaxScale, causal: causal,
                                kvFormat: kvFormat, attnSink: attnSink, out: out.view, lse: lse.view)
        return (out, lse)
    }

    /// FlashMLA's `flash_mla_with_kvcache` into caller-owned `out` and `lse`.
    ///
    /// On the CUDA backend this call allocates nothing and never waits for the device: the
    /// work is queued on `stream` (default: the backend's own) using `workspace` (default:
    /// the backend's own, grown once when a larger schedule first needs it), so a decode step
    /// can be captured in a CUDA graph once a workspace of the right size exists and a call of
    /// the same element type and kernel has run outside capture (the first use of a kernel
    /// compiles and loads it; the rows per KV head, `s_q · h_q / h_kv`, pick it: on Hopper up
    /// to 16, 17 … 64, and more each use another).
    public func flashMLAWithKVCache(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView,
        headDimV: Int, metadata: MLAMetadata, softmaxScale: Float? = nil, causal: Bool = false,
        kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil,
        out: TensorView, lse: TensorView, workspace: Workspace? = nil, stream: ExecutionStream? = nil
    ) throws(MLAError) {
        let problem = try DecodeProblem(
            q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
            metadata: metadata, softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat, attnSink: attnSink,
            out: out, lse: lse, backend: backend)
        try run(problem, workspace: workspace, stream: stream)
    }
}
