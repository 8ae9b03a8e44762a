// CUDABackend's schedule calls: into caller-owned memory (the C ABI, PyTorch) or its own.
import CUDADriver

/// The scheduler on this device: the schedule is written into tensors the caller allocated, on
/// the caller's stream, allocating nothing; or into two tensors allocated here.
extension CUDABackend {
    /// The number of workers the schedule of these heads has on this device: the row count of
    /// `tileSchedulerMetadata` that ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``
    /// expects. `rowsPerKVHead` and `kvHeads` must be in 1 … 2³¹ − 1.
    public func numSMParts(rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> Int {
        try MetadataRequest.checkHeads(rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
        return TileSchedule.numSMParts(multiprocessors: device.multiprocessorCount,
                                       rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
    }

    /// FlashMLA's `get_mla_metadata` into caller-owned memory: queues the scheduler kernel on
    /// `stream`, writing Int32 `[numSMParts, 8]` into `tileSchedulerMetadata` and Int32
    /// `[b + 1]` into `numSplits`. Allocates nothing and never waits, so it can be captured in
    /// a CUDA graph once the kernel is compiled (after the first call on this device).
    ///
    /// - Returns: metadata viewing the caller's tensors; it does not keep their memory alive.
    public func metadata(
        cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, stream: ExecutionStream
    ) throws(MLAError) -> MLAMetadata {
        try metadata(MetadataRequest(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads,
                                     backend: .cuda(device: device.ordinal)),
                     tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, stream: stream)
    }

    /// The schedule of a sparse decode (FlashMLA's `indices` mode) into caller-owned memory: as
    /// ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``
    /// with each request's count of index entries for its length: `topkLength[i]` (Int32 `[b]` in
    /// this device's memory, clamped to `0 ... topk`) or, without it, `topk`. The rows per KV head
    /// are `s_q · h_q` (one KV head). Allocates nothing and never waits.
    public func sparseMetadata(
        topkLength: TensorView?, batchSize: Int, topk: Int, queryRows: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, stream: ExecutionStream
    ) throws(MLAError) -> MLAMetadata {
        try metadata(MetadataRequest(topkLength: topkLength, batchSize: batchSize, topk: topk, queryRows: queryRows,
                                     backend: .cuda(device: device.ordinal)),
                     tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, stream: stream)
    }

    /// The schedule of a validated request into caller-owned memory, queued on `stream`: checks
    /// only what the request does not hold (the two tensors, with this device's worker count,
    /// and the stream), then launches. Allocates nothing and never waits.
    public func metadata(
        _ request: MetadataRequest, tileSchedulerMetadata: TensorView, numSplits: TensorView, stream: ExecutionStream
    ) throws(MLAError) -> MLAMetadata {
        guard request.backend == .cuda(device: device.ordinal) else {
            throw .invalidArgument(argument: "request", expected: "validated for cuda:\(device.ordinal)",
                                   given: "validated for \(request.backend)")
        }
        let parts = workers(request)
        try request.checkOutputs(tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, numSMParts: parts)
        guard stream.device.ordinal == device.ordinal else {
            throw .invalidArgument(argument: "stream", expected: "a stream of cuda:\(device.ordinal)",
                                   given: "a stream of cuda:\(stream.device.ordinal)")
        }
        try launchScheduler(request, parts: parts, tileSchedulerMetadata: tileSchedulerMetadata.deviceAddress!,
                            numSplits: numSplits.deviceAddress!, stream: stream)
        return MLAMetadata(shape: request.shape(numSMParts: parts), tileSchedulerMetadata: tileSchedulerMetadata,
                           numSplits: numSplits, hostSchedule: nil, owners: [])
    }

    /// The schedule of a validated request of this device in two tensors allocated here,
    /// written by the scheduler kernel on the backend's stream.
    func metadata(_ request: MetadataRequest) throws(MLAError) -> MLAMetadata {
        let parts = workers(request)
        let schedule = try allocate(elementType: .int32, shape: [parts, TileSchedule.fieldsPerPart])
        let splits = try allocate(elementType: .int32, shape: [request.batchSize + 1])
        try launchScheduler(request, parts: parts, tileSchedulerMetadata: schedule.view.deviceAddress!,
                            numSplits: splits.view.deviceAddress!, stream: stream)
        return MLAMetadata(shape: request.shape(numSMParts: parts), tileSchedulerMetadata: schedule.view,
                           numSplits: splits.view, hostSchedule: nil, owners: [schedule, splits])
    }

    /// The worker count of a validated request on this device.
    private func workers(_ request: MetadataRequest) -> Int {
        TileSchedule.numSMParts(multiprocessors: device.multiprocessorCount, rowsPerKVHead: request.rowsPerKVHead,
                                kvHeads: request.kvHeads)
    }

    /// Queues `scheduler.cu` on `stream`: the request's lengths (none: every request `cap`
    /// long), each clamped to `0 ... cap`, and with an extra cache its extra lengths
    /// (``SparseIndices/scheduledLength(topkLength:extraTopkLength:)``).
    private func launchScheduler(_ request: MetadataRequest, parts: Int, tileSchedulerMetadata: UInt64,
                                 numSplits: UInt64, stream: ExecutionStream) throws(MLAError) {
        let function = try kernels.function("flashmla_get_metadata", in: .scheduler, elementType: nil).function
        var arguments = KernelArguments(SchedulerParams(lengths: request.lengths?.deviceAddress ?? 0, batch: request.batchSize,
                                                        parts: parts,
                                                        policy: schedulePolicy(rowsPerKVHead: request.rowsPerKVHead,
                                                                               sparse: request.isSparse),
                                                        tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                                                        cap: request.cap,
                                                        extraLengths: request.extraLengths?.deviceAddress ?? 0,
                                                        extraCap: request.extraCap))
        try cuda { () throws(CUDAError) in
            try function.launch(grid: (1, 1, 1), block: (256, 1, 1), stream: stream, arguments: &arguments)
        }
    }

    // MARK: Checks that need no device (kept for callers of 0.1)

    /// Checks the arguments of ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``
    /// without a device; use ``MetadataRequest`` and ``MetadataRequest/checkOutputs(tileSchedulerMetadata:numSplits:numSMParts:)``.
    @available(*, deprecated, message: "use MetadataRequest(cacheSeqlens:rowsPerKVHead:kvHeads:backend:) and its checkOutputs")
    public static func checkMetadataArguments(
        device ordinal: Int, cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, numSMParts: Int?
    ) throws(MLAError) {
        try MetadataRequest(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads,
                            backend: .cuda(device: ordinal))
            .checkOutputs(tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, numSMParts: numSMParts)
    }

    /// Checks the arguments of a decode call on device `ordinal` without a device; use
    /// ``DecodeInputs`` and ``DecodeProblem/init(_:metadata:out:lse:)``.
    @available(*, deprecated, message: "use DecodeInputs(…, backend:) and DecodeProblem(_:metadata:out:lse:)")
    public static func checkDecodeArguments(
        device ordinal: Int, q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView,
        headDimV: Int, metadata: MLAMetadata, softmaxScale: Float?, causal: Bool, kvFormat: KVCacheFormat = .native,
        out: TensorView, lse: TensorView
    ) throws(MLAError) {
        let inputs = try DecodeInputs(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                      headDimV: headDimV, softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat,
                                      backend: .cuda(device: ordinal))
        _ = try DecodeProblem(inputs, metadata: metadata, out: out, lse: lse)
    }
}
