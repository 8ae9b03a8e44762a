// CUDABackend.launchDecode: the split-KV attention kernel of a validated problem, then the combine.
import CUDADriver

extension CUDABackend {
    /// Queues the split-KV attention and the combine for `problem` on `stream`.
    ///
    /// No device allocation and no synchronization unless `workspace` must grow for this shape
    /// (see ``Workspace``) or the chosen kernel is used for the first time on this device (it is
    /// compiled or read from the cache and loaded). On the host it builds the decode kernels'
    /// parameters once (``DecodeParams``), each launch's argument buffer and, for the Hopper
    /// kernels, the cache's tensor map: a few small heap allocations a call, none of them device
    /// memory.
    func launchDecode(_ problem: DecodeProblem, workspace: Workspace, stream: ExecutionStream) throws(MLAError) {
        guard workspace.device.ordinal == device.ordinal, stream.device.ordinal == device.ordinal else {
            throw .invalidArgument(argument: workspace.device.ordinal == device.ordinal ? "stream" : "workspace",
                                   expected: "an object of cuda:\(device.ordinal)",
                                   given: "cuda:\(workspace.device.ordinal == device.ordinal ? stream.device.ordinal : workspace.device.ordinal)")
        }
        let cache = PortableCache(format: problem.kvFormat, pageSize: problem.pageSize, sparse: problem.isSparse)
        guard let chosen = decodeKernel(rowsPerKVHead: problem.rowsPerTile, cache: cache) else {
            throw .unsupportedDevice(device: device.name, reason: "\(device.maxSharedMemoryPerBlockOptin) bytes of shared memory per block is less than the smallest tile for a \(problem.kvFormat) cache needs (FP8: 131,584)")
        }
        let queryRows = problem.queryHeads * problem.queryLength
        let accumulators = try workspace.reservedAccumulators(for: problem.metadata, queryRows: queryRows)
        let (kernel, decode) = try decodeFunction(chosen, elementType: problem.elementType, stream: stream)
        let params = DecodeParams(problem, accumulators: accumulators, errorFlag: workspace.errorFlagAddress)
        switch kernel {
        case let .portable(tile):
            try launchPortable(problem, params: params, decode: decode, tile: tile, stream: stream)
        case .hopperLockstep, .hopperSeesaw:
            try launchHopper(problem, params: params, decode: decode, stream: stream)
        case let .hopperSparse(_, pair):
            try launchHopperSparse(problem, params: params, decode: decode, pair: pair, stream: stream)
        }
        try launchCombine(problem, accumulators: accumulators, stream: stream)
    }

    /// The kernel to launch for `chosen` and its function. On a cold compile cache a kernel with a
    /// ``DecodeKernel/coldStartSubstitute`` that is not compiled yet is built in the background
    /// while the substitute (compiled in a second, computing the same function) runs in its
    /// place; a stream being captured into a graph, or ``ColdStart/wait``, waits for the chosen
    /// kernel instead, so that no graph keeps the substitute.
    private func decodeFunction(_ chosen: DecodeKernel, elementType: ElementType,
                                stream: ExecutionStream) throws(MLAError) -> (DecodeKernel, LoadedKernel) {
        func function(_ kernel: DecodeKernel) throws(MLAError) -> LoadedKernel {
            try kernels.function(kernel.functionName(elementType), in: kernel.unit, elementType: elementType,
                                 expectedSharedMemory: kernel.sharedMemoryBytes)
        }
        guard let substitute = chosen.coldStartSubstitute, kernels.coldStart == .substitute,
              substitute.sharedMemoryBytes <= device.maxSharedMemoryPerBlockOptin else {
            return (chosen, try function(chosen))
        }
        if let ready = try kernels.readyFunction(chosen.functionName(elementType), in: chosen.unit, elementType: elementType,
                                                 expectedSharedMemory: chosen.sharedMemoryBytes) {
            return (chosen, ready)
        }
        let capturing = try cuda { () throws(CUDAError) in try stream.isCapturing }
        return capturing ? (chosen, try function(chosen)) : (substitute, try function(substitute))
    }

    /// The decode kernel this device runs for `rowsPerKVHead` query rows per KV head
    /// (s_q · h_q / h_kv) and a cache in `kvFormat` with `pageSize`-token pages, with
    /// `FLASHMLA_KERNEL`'s preference: `sm80`, `sm90-lockstep` or `sm90-seesaw` (`sm90-sparse` for a
    /// sparse decode on Hopper), or nil when no
    /// kernel fits the device. What `flashmla bench` reports. For a sparse decode (`sparse`),
    /// `rowsPerKVHead` is one query token's rows, `h_q`: each token has its own keys.
    public func decodeKernelName(rowsPerKVHead: Int, kvFormat: KVCacheFormat = .native,
                                 pageSize: Int = TileSchedule.blockSize, sparse: Bool = false) -> String? {
        decodeKernel(rowsPerKVHead: rowsPerKVHead, cache: PortableCache(format: kvFormat, pageSize: pageSize, sparse: sparse))?.name
    }

    /// The kernel a decode call launches (``DecodeKernel/choose(rowsPerKVHead:computeCapability:sharedMemoryLimit:preference:cache:)``
    /// for this device and preference).
    private func decodeKernel(rowsPerKVHead: Int, cache: PortableCache) -> DecodeKernel? {
        let capability = device.computeCapability
        return DecodeKernel.choose(rowsPerKVHead: rowsPerKVHead, computeCapability: (capability.major, capability.minor),
                                   sharedMemoryLimit: device.maxSharedMemoryPerBlockOptin, preference: kernelPreference,
                                   table: kernelTable, cache: cache)
    }

    /// The split-KV attention on the portable kernel (`sm80/decode*.cu`). A dense tile holds up
    /// to `tile.rows` of a KV head's `s_q · h_q / h_kv` rows; a sparse tile (`sm80/decode_sparse.cu`)
    /// holds one query token's rows, since each token has its own keys: `s_q · ⌈(h_q / h_kv) / rows⌉` tiles.
    private func launchPortable(_ problem: DecodeProblem, params: DecodeParams, decode: LoadedKernel, tile: DecodeTile,
                                stream: ExecutionStream) throws(MLAError) {
        var arguments = KernelArguments(params)
        let tiles = tile.cache.isSparse ? problem.queryLength * ((problem.groupSize + tile.rows - 1) / tile.rows)
                                        : (problem.rowsPerKVHead + tile.rows - 1) / tile.rows
        try cuda { () throws(CUDAError) in
            try decode.function.launch(grid: (tiles, problem.kvHeads, problem.metadata.shape.numSMParts), block: (256, 1, 1),
                                       clusterDims: nil, programmaticStreamSerialization: programmaticLaunch,
                                       sharedMemoryBytes: decode.sharedMemoryBytes, stream: stream, arguments: &arguments)
        }
    }

    /// The split-KV attention on a Hopper kernel (`sm90/decode_*.cu`; both take the same
    /// parameters): pages arrive by TMA through a tensor map of the cache, `(576, h_kv, 64, pages)`
    /// innermost first, read in 64 × 64 boxes with the 128-byte swizzle wgmma expects.
    private func launchHopper(_ problem: DecodeProblem, params: DecodeParams, decode: LoadedKernel,
                              stream: ExecutionStream) throws(MLAError) {
        let cache = problem.kCache
        let bytes = UInt64(cache.elementType.byteCount)
        let map = try cuda { () throws(CUDAError) in
            try TensorMap.encodeTiled(
                dataType: cache.elementType == .bfloat16 ? .bfloat16 : .float16, rank: 4,
                globalAddress: cache.deviceAddress!,
                globalDims: [UInt64(DecodeProblem.headDim), UInt64(problem.kvHeads), UInt64(TileSchedule.blockSize), UInt64(problem.numPages)],
                globalStrides: [UInt64(cache.strides[2]) * bytes, UInt64(cache.strides[1]) * bytes, UInt64(cache.strides[0]) * bytes],
                boxDims: [64, 1, 64, 1], elementStrides: [1, 1, 1, 1],
                swizzle: .bytes128, l2Promotion: .bytes256)
        }
        var arguments = KernelArguments(params, after: map)
        let tiles = (problem.rowsPerKVHead + 63) / 64
        try cuda { () throws(CUDAError) in
            try decode.function.launch(grid: (tiles, problem.kvHeads, problem.metadata.shape.numSMParts), block: (256, 1, 1),
                                       clusterDims: nil, programmaticStreamSerialization: programmaticLaunch,
                                       sharedMemoryBytes: decode.sharedMemoryBytes, stream: stream, arguments: &arguments)
        }
    }

    /// Sparse decoding on the Hopper kernel (`sm90/decode_sparse.cu`): a block takes 64 query heads
    /// of one query token, `s_q · ⌈h_q / 64⌉` tiles; two math warpgroups and the producer's
    /// (the block size the kernel's `__launch_bounds__` names), no tensor map.
    private func launchHopperSparse(_ problem: DecodeProblem, params: DecodeParams, decode: LoadedKernel, pair: Bool,
                                    stream: ExecutionStream) throws(MLAError) {
        var arguments = KernelArguments(params)
        let tiles = problem.queryLength * ((problem.groupSize + 63) / 64)
        try cuda { () throws(CUDAError) in
            // A pair kernel: a query token's two tiles (adjacent along x) in one cluster.
            try decode.function.launch(grid: (tiles, problem.kvHeads, problem.metadata.shape.numSMParts),
                                       block: (decode.maxThreadsPerBlock, 1, 1),
                                       clusterDims: pair ? (2, 1, 1) : nil, programmaticStreamSerialization: programmaticLaunch,
                                       sharedMemoryBytes: decode.sharedMemoryBytes, stream: stream, arguments: &arguments)
        }
    }

    /// Query rows one combine block merges, a warp each (`FMLA_COMBINE_ROWS` in `combine.cu`,
    /// which finds a block's rows from this count).
    static let combineRowsPerBlock = 8

    /// Threads of one combine block (`FMLA_COMBINE_THREADS` in `combine.cu`).
    static let combineThreads = 32 * combineRowsPerBlock

    /// The merge of split partials into `out` and `lse` (`combine.cu`); with programmatic
    /// launch its blocks are scheduled as the decode kernel's last pieces end.
    private func launchCombine(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64),
                               stream: ExecutionStream) throws(MLAError) {
        let combine = try kernels.function(problem.elementType == .bfloat16 ? "flashmla_combine_bf16" : "flashmla_combine_fp16",
                                           in: .combine, elementType: problem.elementType).function
        var arguments = KernelArguments(CombineParams(problem, accumulators: accumulators))
        try cuda { () throws(CUDAError) in
            let blocksPerHead = (problem.rowsPerKVHead + Self.combineRowsPerBlock - 1) / Self.combineRowsPerBlock
            try combine.launch(grid: (problem.batchSize * problem.kvHeads * blocksPerHead, 1, 1), block: (Self.combineThreads, 1, 1),
                               clusterDims: nil, programmaticStreamSerialization: programmaticLaunch,
                               stream: stream, arguments: &arguments)
        }
    }
}
