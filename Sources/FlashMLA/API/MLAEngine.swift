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
/// One way through every call, each check made once: validate the inputs (``DecodeInputs``) →
/// the schedule (``MetadataRequest``, ``TileSchedule``; checked against the inputs with the
/// outputs in ``DecodeProblem``) → launch the split-KV attention → combine the splits.
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

    // MARK: - Schedule

    /// FlashMLA's `get_mla_metadata`: the split-KV tile schedule for these request lengths.
    ///
    /// - Parameters:
    ///   - cacheSeqlens: Int32 `[b]`, each request's length counting its new tokens; in host
    ///     memory on the CPU backend, in the engine device's memory on the CUDA backend.
    ///   - rowsPerKVHead: `s_q · h_q / h_kv`.
    ///   - kvHeads: `h_kv`.
    public func getMLAMetadata(cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> MLAMetadata {
        try getMLAMetadata(MetadataRequest(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads,
                                           backend: backend))
    }

    /// The schedule of a validated request (dense or sparse), in memory this call allocates: on
    /// the CPU a host schedule; on CUDA two device tensors written by the scheduler kernel on
    /// the backend's stream, without a host wait.
    public func getMLAMetadata(_ request: MetadataRequest) throws(MLAError) -> MLAMetadata {
        try checkBackend(request.backend, "request")
        switch backend {
        case .cpu:
            let parts = try numSMParts(rowsPerKVHead: request.rowsPerKVHead, kvHeads: request.kvHeads)
            return MLAMetadata(shape: request.shape(numSMParts: parts), hostSchedule: request.hostSchedule(numSMParts: parts))
        case .cuda:
            return try cuda!.metadata(request)
        }
    }

    /// The schedule of a validated request into caller-owned `tileSchedulerMetadata` (Int32
    /// `[numSMParts, 8]`, ``numSMParts(rowsPerKVHead:kvHeads:)`` rows) and `numSplits` (Int32
    /// `[b + 1]`), both contiguous in the backend's memory. On the CPU it is computed and written
    /// now (`stream` is ignored); on CUDA the scheduler kernel is queued on `stream` (default: the
    /// backend's), allocating nothing and never waiting. The result views the caller's tensors
    /// and does not keep them alive.
    public func getMLAMetadata(_ request: MetadataRequest, tileSchedulerMetadata: TensorView, numSplits: TensorView,
                               stream: ExecutionStream? = nil) throws(MLAError) -> MLAMetadata {
        try checkBackend(request.backend, "request")
        switch backend {
        case .cpu:
            let parts = try numSMParts(rowsPerKVHead: request.rowsPerKVHead, kvHeads: request.kvHeads)
            try request.checkOutputs(tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, numSMParts: parts)
            let schedule = request.hostSchedule(numSMParts: parts)
            HostElements(tileSchedulerMetadata).storeInt32(schedule.int32Encoding)
            HostElements(numSplits).storeInt32(schedule.numSplits)
            return MLAMetadata(shape: request.shape(numSMParts: parts), tileSchedulerMetadata: tileSchedulerMetadata,
                               numSplits: numSplits, hostSchedule: schedule, owners: [])
        case .cuda:
            return try cuda!.metadata(request, tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                                      stream: stream ?? cuda!.stream)
        }
    }

    /// The number of workers (`num_sm_parts`, the rows of `tileSchedulerMetadata`) of a schedule
    /// for these heads on this engine's backend: FlashMLA's
    /// `max(1, multiprocessors / kvHeads / ⌈rowsPerKVHead / 64⌉)`, with the device's
    /// multiprocessors on CUDA and ``cpuMultiprocessors`` on the CPU.
    public func numSMParts(rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> Int {
        switch backend {
        case .cpu:
            try MetadataRequest.checkHeads(rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
            return TileSchedule.numSMParts(multiprocessors: cpuMultiprocessors, rowsPerKVHead: rowsPerKVHead,
                                           kvHeads: kvHeads)
        case .cuda:
            return try cuda!.numSMParts(rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
        }
    }

    // MARK: - Decode

    /// Validates the inputs of a dense decode call on this engine's backend (``DecodeInputs``):
    /// needs no outputs and no schedule, touches no device, allocates nothing.
    public func validate(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView, headDimV: Int,
        softmaxScale: Float? = nil, causal: Bool = false, kvFormat: KVCacheFormat = .native, attnSink: TensorView? = nil
    ) throws(MLAError) -> DecodeInputs {
        try DecodeInputs(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
                         softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat, attnSink: attnSink,
                         backend: backend)
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
        try flashMLAWithKVCache(
            validate(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
                     softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat, attnSink: attnSink),
            metadata: metadata)
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
        let inputs = try validate(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                  headDimV: headDimV, softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat,
                                  attnSink: attnSink)
        try flashMLAWithKVCache(DecodeProblem(inputs, metadata: metadata, out: out, lse: lse),
                                workspace: workspace, stream: stream)
    }

    /// The decode of validated inputs (dense or sparse) with `metadata`, allocating `out` and
    /// `lse` beside `q` (on CUDA, in the device's memory; the work is queued on the backend's stream).
    public func flashMLAWithKVCache(_ inputs: DecodeInputs, metadata: MLAMetadata) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        try checkBackend(inputs.backend, "inputs")
        let out: Tensor, lse: Tensor
        switch backend {
        case .cpu:
            out = Tensor(hostElementType: inputs.elementType, shape: inputs.outShape)
            lse = Tensor(hostElementType: .float32, shape: inputs.lseShape)
        case .cuda:
            out = try cuda!.allocate(elementType: inputs.elementType, shape: inputs.outShape)
            lse = try cuda!.allocate(elementType: .float32, shape: inputs.lseShape)
        }
        try flashMLAWithKVCache(DecodeProblem(inputs, metadata: metadata, out: out.view, lse: lse.view),
                                workspace: nil, stream: nil)
        return (out, lse)
    }

    /// Runs a validated problem: validate → schedule → launch the split-KV attention → combine,
    /// with nothing checked again. On CUDA as the caller-memory overload (no allocation unless
    /// `workspace` must grow, no host wait); on the CPU computed before it returns.
    public func flashMLAWithKVCache(_ problem: DecodeProblem, workspace: Workspace? = nil,
                                    stream: ExecutionStream? = nil) throws(MLAError) {
        try checkBackend(problem.backend, "problem")
        switch backend {
        case .cpu: CPUBackend.decode(problem, mode: .splitKV)
        case .cuda: try cuda!.decode(problem, workspace: workspace, stream: stream)
        }
    }

    /// Throws unless something validated for `validated` can run on this engine's backend.
    func checkBackend(_ validated: Backend, _ argument: String) throws(MLAError) {
        guard validated == backend else {
            throw .invalidArgument(argument: argument, expected: "validated for this engine's backend \(backend)",
                                   given: "validated for \(validated)")
        }
    }
}
