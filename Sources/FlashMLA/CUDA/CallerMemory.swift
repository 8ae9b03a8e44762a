// CUDABackend's calls for callers that own the memory and the stream (the C ABI, PyTorch).
import CUDADriver

/// Calls for callers that own the memory and the stream (the C ABI, PyTorch): the schedule is
/// written into tensors the caller allocated, on the caller's stream, and nothing is allocated.
extension CUDABackend {
    /// The number of workers the schedule of these heads has on this device: the row count of
    /// `tileSchedulerMetadata` that ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``
    /// expects.
    public func numSMParts(rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> Int {
        guard rowsPerKVHead >= 1 else {
            throw .invalidArgument(argument: "rowsPerKVHead", expected: ">= 1", given: "\(rowsPerKVHead)")
        }
        guard kvHeads >= 1 else {
            throw .invalidArgument(argument: "kvHeads", expected: ">= 1", given: "\(kvHeads)")
        }
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
        let parts = try numSMParts(rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
        try Self.checkMetadataArguments(device: device.ordinal, cacheSeqlens: cacheSeqlens,
                                        rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads,
                                        tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                                        numSMParts: parts)
        let batch = cacheSeqlens.shape[0]
        guard stream.device.ordinal == device.ordinal else {
            throw .invalidArgument(argument: "stream", expected: "a stream of cuda:\(device.ordinal)",
                                   given: "a stream of cuda:\(stream.device.ordinal)")
        }
        try launchScheduler(lengths: cacheSeqlens.deviceAddress!, batch: batch, cap: Int(Int32.max), parts: parts,
                            rowsPerKVHead: rowsPerKVHead, tileSchedulerMetadata: tileSchedulerMetadata,
                            numSplits: numSplits, stream: stream)
        let shape = MetadataShape(batchSize: batch, rowsPerKVHead: rowsPerKVHead,
                                  kvHeads: kvHeads, numSMParts: parts)
        return MLAMetadata(shape: shape, tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                           hostSchedule: nil, owners: [])
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
        let parts = try numSMParts(rowsPerKVHead: queryRows, kvHeads: 1)
        guard batchSize >= 1 else {
            throw .invalidArgument(argument: "batchSize", expected: ">= 1", given: "\(batchSize)")
        }
        guard topk >= 1, topk <= Int(Int32.max) else {
            throw .invalidArgument(argument: "topk", expected: "1...\(Int32.max)", given: "\(topk)")
        }
        let backend = Backend.cuda(device: device.ordinal)
        if let topkLength {
            try Validation.checkRank(topkLength, "topkLength", 1, layout: "[b]")
            try Validation.checkType(topkLength, "topkLength", .int32)
            try Validation.checkShape(topkLength, "topkLength", [batchSize])
            try Validation.checkContiguous(topkLength, "topkLength")
            try Validation.checkStorage(topkLength, "topkLength", backend: backend)
        }
        for (view, name, shape) in [(tileSchedulerMetadata, "tileSchedulerMetadata", [parts, TileSchedule.fieldsPerPart]),
                                    (numSplits, "numSplits", [batchSize + 1])] {
            try Validation.checkType(view, name, .int32)
            try Validation.checkShape(view, name, shape)
            try Validation.checkContiguous(view, name)
            try Validation.checkStorage(view, name, backend: backend)
        }
        guard stream.device.ordinal == device.ordinal else {
            throw .invalidArgument(argument: "stream", expected: "a stream of cuda:\(device.ordinal)",
                                   given: "a stream of cuda:\(stream.device.ordinal)")
        }
        try launchScheduler(lengths: topkLength?.deviceAddress ?? 0, batch: batchSize, cap: topk, parts: parts,
                            rowsPerKVHead: queryRows, tileSchedulerMetadata: tileSchedulerMetadata,
                            numSplits: numSplits, stream: stream)
        let shape = MetadataShape(batchSize: batchSize, rowsPerKVHead: queryRows, kvHeads: 1, numSMParts: parts)
        return MLAMetadata(shape: shape, tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                           hostSchedule: nil, owners: [])
    }

    /// Queues `scheduler.cu` on `stream`: lengths at device address `lengths` (0: every request
    /// `cap` long), each clamped to `0 ... cap`.
    private func launchScheduler(lengths: UInt64, batch: Int, cap: Int, parts: Int, rowsPerKVHead: Int,
                                 tileSchedulerMetadata: TensorView, numSplits: TensorView,
                                 stream: ExecutionStream) throws(MLAError) {
        let function = try kernels.function("flashmla_get_metadata", in: .scheduler, elementType: nil).function
        var arguments = KernelArguments(SchedulerParams(lengths: lengths, batch: batch, parts: parts, rowsPerKVHead: rowsPerKVHead,
                                                        tileSchedulerMetadata: tileSchedulerMetadata.deviceAddress!,
                                                        numSplits: numSplits.deviceAddress!, cap: cap))
        try cuda { () throws(CUDAError) in
            try function.launch(grid: (1, 1, 1), block: (256, 1, 1), stream: stream, arguments: &arguments)
        }
    }

    // MARK: Checks that need no device

    /// Checks the arguments of ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``
    /// for device `ordinal` without touching any device. With `numSMParts` nil (the device's
    /// multiprocessor count unknown), the row count of `tileSchedulerMetadata` is not checked.
    public static func checkMetadataArguments(
        device ordinal: Int, cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, numSMParts: Int?
    ) throws(MLAError) {
        let backend = Backend.cuda(device: ordinal)
        try Validation.checkMetadataArguments(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead,
                                              kvHeads: kvHeads, backend: backend)
        let batch = cacheSeqlens.shape[0]
        let fields = TileSchedule.fieldsPerPart
        try Validation.checkRank(tileSchedulerMetadata, "tileSchedulerMetadata", 2, layout: "[numSMParts, \(fields)]")
        let parts = numSMParts ?? tileSchedulerMetadata.shape[0]
        for (view, name, shape) in [(tileSchedulerMetadata, "tileSchedulerMetadata", [parts, fields]),
                                    (numSplits, "numSplits", [batch + 1])] {
            try Validation.checkType(view, name, .int32)
            try Validation.checkShape(view, name, shape)
            try Validation.checkContiguous(view, name)
            try Validation.checkStorage(view, name, backend: backend)
        }
    }

    /// Checks the arguments of a decode call on device `ordinal` without touching any device:
    /// everything ``MLAEngine/flashMLAWithKVCache(q:kCache:blockTable:cacheSeqlens:headDimV:metadata:softmaxScale:causal:kvFormat:out:lse:workspace:stream:)``
    /// checks before it queues work, the kernels' alignment rules included.
    public static func checkDecodeArguments(
        device ordinal: Int, q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView,
        headDimV: Int, metadata: MLAMetadata, softmaxScale: Float?, causal: Bool, kvFormat: KVCacheFormat = .native,
        out: TensorView, lse: TensorView
    ) throws(MLAError) {
        let problem = try DecodeProblem(
            q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens, headDimV: headDimV,
            metadata: metadata, softmaxScale: softmaxScale, causal: causal, kvFormat: kvFormat, out: out, lse: lse,
            backend: .cuda(device: ordinal))
        try checkAlignment(problem)
    }
}
