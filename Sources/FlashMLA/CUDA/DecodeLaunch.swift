import CUDADriver

extension CUDABackend {
    /// Queues the split-KV attention and the combine for `problem` on `stream`.
    ///
    /// Allocation-free and sync-free unless `workspace` must grow for this shape (see
    /// ``Workspace``).
    func launchDecode(_ problem: DecodeProblem, workspace: Workspace, stream: ExecutionStream) throws(MLAError) {
        guard workspace.device.ordinal == device.ordinal, stream.device.ordinal == device.ordinal else {
            throw .invalidArgument(argument: workspace.device.ordinal == device.ordinal ? "stream" : "workspace",
                                   expected: "an object of cuda:\(device.ordinal)",
                                   given: "cuda:\(workspace.device.ordinal == device.ordinal ? stream.device.ordinal : workspace.device.ordinal)")
        }
        try Self.checkAlignment(problem)
        guard let tile = DecodeTile.choose(rowsPerKVHead: problem.rowsPerKVHead,
                                           sharedMemoryLimit: device.maxSharedMemoryPerBlockOptin) else {
            throw .unsupportedDevice(device: device.name, reason: "\(device.maxSharedMemoryPerBlockOptin) bytes of shared memory per block is less than the smallest tile needs")
        }
        let queryRows = problem.queryHeads * problem.queryLength
        try workspace.reserve(for: problem.metadata, queryRows: queryRows)
        let accumulators = workspace.accumulatorAddresses(rows: problem.metadata.maxTotalSplits * queryRows)

        let decode = try kernels.function(tile.kernelName(problem.elementType), in: .decodeSM80,
                                          sharedMemory: tile.sharedMemoryBytes)
        var arguments = KernelArguments()
        arguments.append(problem.q.deviceAddress!)
        arguments.append(problem.kCache.deviceAddress!)
        arguments.append(problem.blockTable.deviceAddress!)
        arguments.append(problem.cacheSeqlens.deviceAddress!)
        arguments.append(problem.metadata.tileSchedulerMetadata.deviceAddress!)
        arguments.append(problem.metadata.numSplits.deviceAddress!)
        arguments.append(problem.out.deviceAddress!)
        arguments.append(problem.lse.deviceAddress!)
        arguments.append(accumulators.out)
        arguments.append(accumulators.lse)
        arguments.append(workspace.errorFlagAddress)
        for stride in [problem.q.strides[0], problem.q.strides[1], problem.q.strides[2],
                       problem.kCache.strides[0], problem.kCache.strides[1], problem.kCache.strides[2],
                       problem.blockTable.strides[0]] {
            arguments.append(Int64(stride))
        }
        for value in [problem.queryLength, problem.queryHeads, problem.kvHeads, problem.numPages, problem.maxPagesPerRequest] {
            arguments.append(Int32(value))
        }
        arguments.append(problem.softmaxScale * Float(1.4426950408889634))
        arguments.append(Int32(problem.causal ? 1 : 0))
        let tiles = (problem.rowsPerKVHead + tile.rows - 1) / tile.rows
        try cuda { () throws(CUDAError) in
            try decode.launch(grid: (tiles, problem.kvHeads, problem.metadata.shape.numSMParts), block: (256, 1, 1),
                              sharedMemoryBytes: tile.sharedMemoryBytes, stream: stream, arguments: &arguments)
        }

        let combine = try kernels.function(problem.elementType == .bfloat16 ? "flashmla_combine_bf16" : "flashmla_combine_fp16",
                                           in: .combine)
        var combineArguments = KernelArguments()
        combineArguments.append(accumulators.lse)
        combineArguments.append(accumulators.out)
        combineArguments.append(problem.metadata.numSplits.deviceAddress!)
        combineArguments.append(problem.out.deviceAddress!)
        combineArguments.append(problem.lse.deviceAddress!)
        combineArguments.append(Int32(problem.queryHeads))
        combineArguments.append(Int32(problem.queryLength))
        combineArguments.append(Int32(problem.kvHeads))
        try cuda { () throws(CUDAError) in
            try combine.launch(grid: (problem.batchSize * queryRows, 1, 1), block: (128, 1, 1),
                               stream: stream, arguments: &combineArguments)
        }
    }

    /// The kernels copy 16 bytes at a time: base addresses and the strides of q and kCache
    /// must be multiples of 16 bytes (8 elements).
    static func checkAlignment(_ problem: DecodeProblem) throws(MLAError) {
        for (name, view) in [("q", problem.q), ("kCache", problem.kCache)] {
            let aligned = view.deviceAddress! % 16 == 0 && view.strides.dropLast().allSatisfy { $0 % 8 == 0 }
            guard aligned else {
                throw .invalidArgument(argument: name, expected: "a 16-byte aligned base and strides that are multiples of 8 elements",
                                       given: "address \(view.deviceAddress!), strides \(view.strides)")
            }
        }
    }
}
