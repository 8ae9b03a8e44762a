// Validation: the argument checks of the engine's two calls.
/// The argument checks of the engine's two calls.
///
/// Every check runs before any work is done and before any output is written; a failure
/// throws ``MLAError/invalidArgument(argument:expected:given:)`` naming the argument, what
/// was expected and what was given.
enum Validation {
    /// Throws unless `q` (of rank 4) is `[b, s_q, h_q, 576]` with `b, s_q, h_q ≥ 1` and
    /// `headDimV` is 512; returns `(b, s_q, h_q)`.
    static func checkQueryShape(_ q: TensorView, headDimV: Int) throws(MLAError) -> (b: Int, sQ: Int, hQ: Int) {
        let headDim = DecodeProblem.headDim, valueDim = DecodeProblem.headDimV
        let b = q.shape[0], sQ = q.shape[1], hQ = q.shape[2]
        guard b >= 1, sQ >= 1, hQ >= 1, q.shape[3] == headDim else {
            throw .invalidArgument(argument: "q", expected: "[b, s_q, h_q, \(headDim)] with b, s_q, h_q >= 1",
                                   given: q.shapeDescription)
        }
        guard headDimV == valueDim else {
            throw .invalidArgument(argument: "headDimV", expected: "\(valueDim)", given: "\(headDimV)")
        }
        return (b, sQ, hQ)
    }

    /// Checks the arguments of `getMLAMetadata`.
    ///
    /// `cacheSeqlens` must be a contiguous Int32 `[b]` in the backend's memory (host memory for
    /// `.cpu`, that device's memory for `.cuda`); in host memory each length must be `≥ 0`.
    static func checkMetadataArguments(
        cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int, backend: Backend
    ) throws(MLAError) {
        try checkRank(cacheSeqlens, "cacheSeqlens", 1, layout: "[b]")
        try checkType(cacheSeqlens, "cacheSeqlens", .int32)
        try checkContiguous(cacheSeqlens, "cacheSeqlens")
        try checkStorage(cacheSeqlens, "cacheSeqlens", backend: backend)
        guard rowsPerKVHead >= 1 else {
            throw .invalidArgument(argument: "rowsPerKVHead", expected: ">= 1", given: "\(rowsPerKVHead)")
        }
        guard kvHeads >= 1 else {
            throw .invalidArgument(argument: "kvHeads", expected: ">= 1", given: "\(kvHeads)")
        }
        guard cacheSeqlens.hostPointer != nil else { return }
        for (index, length) in hostInt32(cacheSeqlens).enumerated() where length < 0 {
            throw .invalidArgument(argument: "cacheSeqlens[\(index)]", expected: ">= 0", given: "\(length)")
        }
    }

    /// The elements of a host Int32 view in row-major order of its shape, honouring its strides.
    static func hostInt32(_ view: TensorView) -> [Int32] {
        precondition(view.elementType == .int32, "hostInt32 needs an int32 view, given \(view.elementType)")
        let elements = HostElements(view)
        var values = [Int32]()
        values.reserveCapacity(view.elementCount)
        elements.forEachOffset { values.append(elements.int32(offset: $0)) }
        return values
    }

    // MARK: - Single checks, shared by both calls

    /// Throws unless `view` has `rank` dimensions; `layout` names them, e.g. `[b, s_q, h_q, 576]`.
    static func checkRank(_ view: TensorView, _ argument: String, _ rank: Int, layout: String) throws(MLAError) {
        guard view.rank == rank else {
            throw .invalidArgument(argument: argument, expected: "rank \(rank) \(layout)",
                                   given: "rank \(view.rank) \(view.shapeDescription)")
        }
    }

    /// Throws unless `view` holds elements of `type`.
    static func checkType(_ view: TensorView, _ argument: String, _ type: ElementType) throws(MLAError) {
        guard view.elementType == type else {
            throw .invalidArgument(argument: argument, expected: "\(type)", given: "\(view.elementType)")
        }
    }

    /// Throws unless `view` has exactly `shape`.
    static func checkShape(_ view: TensorView, _ argument: String, _ shape: [Int]) throws(MLAError) {
        guard view.shape == shape else {
            let expected = TensorView(elementType: view.elementType, shape: shape, storage: view.storage)
            throw .invalidArgument(argument: argument, expected: expected.shapeDescription,
                                   given: view.shapeDescription)
        }
    }

    /// Throws unless `view` is laid out densely in row-major order.
    static func checkContiguous(_ view: TensorView, _ argument: String) throws(MLAError) {
        guard view.isContiguous else {
            throw .invalidArgument(
                argument: argument,
                expected: "contiguous strides \(TensorView.contiguousStrides(for: view.shape))",
                given: "strides \(view.strides) for \(view.shapeDescription)")
        }
    }

    /// Throws unless the innermost dimension of `view` has stride 1 (or extent 1).
    static func checkInnermostStride(_ view: TensorView, _ argument: String) throws(MLAError) {
        guard let extent = view.shape.last, let stride = view.strides.last, extent > 1 else { return }
        guard stride == 1 else {
            throw .invalidArgument(argument: argument, expected: "innermost stride 1",
                                   given: "strides \(view.strides) for \(view.shapeDescription)")
        }
    }

    /// Throws unless `view` lives where `backend` reads it: host memory for `.cpu`, the
    /// memory of that device for `.cuda`.
    static func checkStorage(_ view: TensorView, _ argument: String, backend: Backend) throws(MLAError) {
        switch backend {
        case .cpu:
            guard view.hostPointer == nil else { return }
            throw .invalidArgument(argument: argument, expected: "host memory (backend cpu)",
                                   given: storageDescription(view.storage))
        case let .cuda(device):
            guard view.storage.deviceOrdinal != device else { return }
            throw .invalidArgument(argument: argument, expected: "device memory of cuda:\(device)",
                                   given: storageDescription(view.storage))
        }
    }

    /// `host memory` or `device memory of cuda:N`.
    static func storageDescription(_ storage: TensorStorage) -> String {
        switch storage {
        case .host: "host memory"
        case let .device(ordinal, _): "device memory of cuda:\(ordinal)"
        }
    }
}

extension DecodeProblem {
    /// Validates the arguments of `flashMLAWithKVCache` for `backend` and records them.
    ///
    /// Checks ranks, shapes, element types, layouts (`out` and `lse` contiguous; `q`,
    /// `kCache` and `blockTable` with a unit innermost stride), the cache against `kvFormat`
    /// (its type, a page size in 1 … 256, its bytes a token; see ``Validation/checkCacheShape(_:format:queryType:)``),
    /// that every tensor lives in `backend`'s memory, that `metadata` was made for these
    /// shapes, and that the softmax scale is finite and positive. When `cacheSeqlens` and `blockTable` are in host memory
    /// it also checks their contents: each length fits its block-table row and every page
    /// a request uses is a page of `kCache`.
    ///
    /// - Parameters:
    ///   - softmaxScale: `nil` for the default `1/√576`.
    ///   - kvFormat: how `kCache` stores a token (default: in `q`'s type).
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    init(
        q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView,
        headDimV: Int, metadata: MLAMetadata, softmaxScale: Float?, causal: Bool, kvFormat: KVCacheFormat = .native,
        attnSink: TensorView? = nil, out: TensorView, lse: TensorView, backend: Backend
    ) throws(MLAError) {
        let headDim = DecodeProblem.headDim, valueDim = DecodeProblem.headDimV

        // Ranks and element types.
        try Validation.checkRank(q, "q", 4, layout: "[b, s_q, h_q, \(headDim)]")
        try Validation.checkRank(kCache, "kCache", 4, layout: "[numPages, pageSize, h_kv, \(kvFormat == .fp8DeepSeek ? KVCacheFormat.deepSeekTokenBytes : headDim)]")
        try Validation.checkRank(blockTable, "blockTable", 2, layout: "[b, maxPages]")
        try Validation.checkRank(cacheSeqlens, "cacheSeqlens", 1, layout: "[b]")
        try Validation.checkRank(out, "out", 4, layout: "[b, s_q, h_q, \(valueDim)]")
        try Validation.checkRank(lse, "lse", 3, layout: "[b, h_q, s_q]")
        guard q.elementType.isHalfPrecision else {
            throw .invalidArgument(argument: "q", expected: "bfloat16 or float16", given: "\(q.elementType)")
        }
        try Validation.checkCacheType(kCache, format: kvFormat, queryType: q.elementType)
        try Validation.checkType(blockTable, "blockTable", .int32)
        try Validation.checkType(cacheSeqlens, "cacheSeqlens", .int32)
        try Validation.checkType(out, "out", q.elementType)
        try Validation.checkType(lse, "lse", .float32)

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
        try Validation.checkShape(out, "out", [b, sQ, hQ, valueDim])
        try Validation.checkShape(lse, "lse", [b, hQ, sQ])

        // Layouts.
        try Validation.checkInnermostStride(q, "q")
        try Validation.checkInnermostStride(kCache, "kCache")
        try Validation.checkInnermostStride(blockTable, "blockTable")
        try Validation.checkContiguous(cacheSeqlens, "cacheSeqlens")
        try Validation.checkContiguous(out, "out")
        try Validation.checkContiguous(lse, "lse")

        // Memory.
        for (view, name) in [(q, "q"), (kCache, "kCache"), (blockTable, "blockTable"),
                             (cacheSeqlens, "cacheSeqlens"), (out, "out"), (lse, "lse")] {
            try Validation.checkStorage(view, name, backend: backend)
        }

        // Metadata and scale.
        try Validation.checkMetadata(metadata, batchSize: b, rowsPerKVHead: sQ * hQ / hKV, kvHeads: hKV,
                                     backend: backend)
        let scale = try Validation.checkSoftmaxScale(softmaxScale)
        try Validation.checkAttnSink(attnSink, queryHeads: hQ, backend: backend)

        // Contents, where the host can read them.
        if cacheSeqlens.hostPointer != nil {
            let lengths = Validation.hostInt32(cacheSeqlens)
            for (index, length) in lengths.enumerated() where length < 0 || Int(length) > maxPages * pageSize {
                throw .invalidArgument(argument: "cacheSeqlens[\(index)]",
                                       expected: "0...\(maxPages * pageSize) (blockTable row holds \(maxPages * pageSize) tokens)",
                                       given: "\(length)")
            }
            if blockTable.hostPointer != nil {
                try Validation.checkBlockIDs(blockTable, lengths: lengths, numPages: numPages, pageSize: pageSize)
            }
            if backend == .cpu, let schedule = metadata.hostSchedule,
               schedule != TileSchedule(cacheSeqlens: lengths, numSMParts: metadata.shape.numSMParts,
                                        rowsPerKVHead: metadata.shape.rowsPerKVHead) {
                throw .invalidArgument(argument: "metadata", expected: "the schedule of these cacheSeqlens",
                                       given: "a schedule of other lengths (numSplits \(schedule.numSplits))")
            }
        }

        self.init(batchSize: b, queryLength: sQ, queryHeads: hQ, kvHeads: hKV, numPages: numPages,
                  pageSize: pageSize, kvFormat: kvFormat, maxPagesPerRequest: maxPages, elementType: q.elementType, softmaxScale: scale, causal: causal,
                  q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                  out: out, lse: lse, metadata: metadata, attnSink: attnSink)
    }
}

extension Validation {
    /// Throws unless `metadata` was made for these shapes and lives in `backend`'s memory
    /// (on the CPU, a host schedule is needed).
    static func checkMetadata(
        _ metadata: MLAMetadata, batchSize: Int, rowsPerKVHead: Int, kvHeads: Int, backend: Backend
    ) throws(MLAError) {
        let given = metadata.shape
        let expected = MetadataShape(batchSize: batchSize, rowsPerKVHead: rowsPerKVHead,
                                     kvHeads: kvHeads, numSMParts: given.numSMParts)
        guard given == expected else {
            throw .invalidArgument(argument: "metadata", expected: expected.description, given: given.description)
        }
        let tables = metadata.tileSchedulerMetadata, splits = metadata.numSplits
        guard tables.elementType == .int32, tables.shape == [given.numSMParts, TileSchedule.fieldsPerPart],
              splits.elementType == .int32, splits.shape == [batchSize + 1] else {
            throw .invalidArgument(
                argument: "metadata",
                expected: "int32[\(given.numSMParts), \(TileSchedule.fieldsPerPart)] and int32[\(batchSize + 1)]",
                given: "\(tables.shapeDescription) and \(splits.shapeDescription)")
        }
        switch backend {
        case .cpu:
            guard let schedule = metadata.hostSchedule, schedule.numSMParts == given.numSMParts,
                  schedule.numSplits.count == batchSize + 1 else {
                throw .invalidArgument(argument: "metadata", expected: "a host schedule (from a cpu engine)",
                                       given: "metadata without one, in \(storageDescription(tables.storage))")
            }
        case .cuda:
            try checkStorage(tables, "metadata", backend: backend)
            try checkStorage(splits, "metadata", backend: backend)
        }
    }

    /// Throws unless every page that a request of length `lengths[i]` uses — entries
    /// `0 ..< ⌈lengths[i]/pageSize⌉` of its row — names a page of the cache.
    static func checkBlockIDs(_ blockTable: TensorView, lengths: [Int32], numPages: Int, pageSize: Int) throws(MLAError) {
        let table = HostElements(blockTable)
        for (request, length) in lengths.enumerated() {
            let used = (Int(length) + pageSize - 1) / pageSize
            for page in 0..<used {
                let id = table.int32(offset: table.offset([request, page]))
                guard id >= 0, Int(id) < numPages else {
                    throw .invalidArgument(argument: "blockTable[\(request)][\(page)]",
                                           expected: "0..<\(numPages) (a page of kCache)", given: "\(id)")
                }
            }
        }
    }
}
