// MetadataRequest: one getMLAMetadata call, validated (dense lengths or sparse index counts).
/// One `getMLAMetadata` call, validated: the lengths the schedule balances over the workers and
/// the query rows a worker's tile holds.
///
/// Dense decoding schedules `cacheSeqlens` for `s_q · h_q / h_kv` rows per KV head; sparse
/// decoding each request's count of index entries (`topkLength`, or `topk`) for the `s_q · h_q`
/// rows of its one KV head. Made by the validating initializers (device-free, before any work),
/// or from validated ``DecodeInputs`` (nothing left to check); the schedule tensors a caller
/// provides are checked by ``checkOutputs(tileSchedulerMetadata:numSplits:numSMParts:)``.
public struct MetadataRequest: Sendable {
    /// The backend whose memory the lengths were checked to live in.
    public let backend: Backend
    /// Requests, `b`.
    public let batchSize: Int
    /// Query rows per KV head: `s_q · h_q / h_kv` (sparse: `s_q · h_q`).
    public let rowsPerKVHead: Int
    /// KV heads, `h_kv` (sparse: 1).
    public let kvHeads: Int
    /// Int32 `[b]`: `cacheSeqlens` or `topkLength`; nil when every request is `cap` long
    /// (sparse decoding without `topkLength`).
    public let lengths: TensorView?
    /// The largest length counted: `Int32.max` for dense decoding, `topk` for sparse (the GPU
    /// scheduler clamps each length to `0 ... cap`).
    public let cap: Int
    /// Int32 `[b]`: `extraTopkLength`, or nil (every extra list counts `extraCap` entries, or no
    /// extra cache).
    public let extraLengths: TensorView?
    /// `extra_topk` with an extra cache, else 0. With one, request `i` is scheduled
    /// ``SparseIndices/scheduledLength(topkLength:extraTopkLength:)`` positions long, its
    /// `extraLengths[i]` clamped to `0 ... extraCap`.
    public let extraCap: Int
    /// The lengths, when the host can read them.
    let hostLengths: [Int32]?
    /// Whether the request schedules a sparse call (index counts, not cache lengths).
    public let isSparse: Bool

    /// The shape of metadata made for this request with `numSMParts` workers.
    public func shape(numSMParts: Int) -> MetadataShape {
        MetadataShape(batchSize: batchSize, rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads, numSMParts: numSMParts)
    }

    /// Validates a dense call: `cacheSeqlens` a contiguous Int32 `[b]` (`b ≥ 0`) in `backend`'s
    /// memory (in host memory each length `≥ 0`), `rowsPerKVHead` (`s_q · h_q / h_kv`) and
    /// `kvHeads` in 1 … 2³¹ − 1.
    ///
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    public init(cacheSeqlens: TensorView, rowsPerKVHead: Int, kvHeads: Int, backend: Backend) throws(MLAError) {
        try Validation.checkRank(cacheSeqlens, "cacheSeqlens", 1, layout: "[b]")
        try Validation.checkType(cacheSeqlens, "cacheSeqlens", .int32)
        try Validation.checkContiguous(cacheSeqlens, "cacheSeqlens")
        try Validation.checkStorage(cacheSeqlens, "cacheSeqlens", backend: backend)
        try Self.checkHeads(rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads)
        var lengths: [Int32]? = nil
        if cacheSeqlens.hostPointer != nil {
            let values = Validation.hostInt32(cacheSeqlens)
            for (index, length) in values.enumerated() where length < 0 {
                throw .invalidArgument(argument: "cacheSeqlens[\(index)]", expected: ">= 0", given: "\(length)")
            }
            lengths = values
        }
        self.init(backend: backend, batchSize: cacheSeqlens.shape[0], rowsPerKVHead: rowsPerKVHead, kvHeads: kvHeads,
                  lengths: cacheSeqlens, cap: Int(Int32.max), hostLengths: lengths, isSparse: false)
    }

    /// Validates a sparse call: `sparse.indices` of rank 3 `[b, s_q, topk]` with `b, topk ≥ 1`
    /// (only its shape is read), `queryRows` (`s_q · h_q`) in 1 … 2³¹ − 1, `sparse.topkLength`
    /// as ``init(topkLength:batchSize:topk:queryRows:backend:)`` checks it and, with an extra
    /// cache, `sparse.extraIndices` of rank 3 (its `extra_topk ≥ 1`) and `sparse.extraTopkLength`
    /// (``init(topkLength:batchSize:topk:extraTopkLength:extraTopk:queryRows:backend:)``).
    /// `extraIndices` or `extraTopkLength` without `extraKCache` is refused.
    public init(sparse: SparseIndices, queryRows: Int, backend: Backend) throws(MLAError) {
        try Validation.checkRank(sparse.indices, "indices", 3, layout: "[b, s_q, topk]")
        let batch = sparse.indices.shape[0], topk = sparse.topk
        guard batch >= 1, topk >= 1 else {
            throw .invalidArgument(argument: "indices", expected: "[b, s_q, topk] with b, topk >= 1",
                                   given: sparse.indices.shapeDescription)
        }
        var extraTopk: Int? = nil
        if sparse.hasExtraCache {
            guard let extraIndices = sparse.extraIndices else {
                throw .invalidArgument(argument: "extraIndices", expected: "int32[b, s_q, extra_topk] with extraKCache", given: "nil")
            }
            try Validation.checkRank(extraIndices, "extraIndices", 3, layout: "[b, s_q, extra_topk]")
            extraTopk = sparse.extraTopk
        } else if sparse.extraIndices != nil || sparse.extraTopkLength != nil {
            throw .invalidArgument(argument: sparse.extraIndices != nil ? "extraIndices" : "extraTopkLength",
                                   expected: "nil without extraKCache", given: "a tensor")
        }
        try self.init(topkLength: sparse.topkLength, batchSize: batch, topk: topk, extraTopkLength: sparse.extraTopkLength,
                      extraTopk: extraTopk, queryRows: queryRows, backend: backend)
    }

    /// Validates a sparse call given its sizes: `batchSize` and `topk` in 1 … 2³¹ − 1, `queryRows`
    /// (`s_q · h_q`) too, and `topkLength`, when given, a contiguous Int32 `[b]` in `backend`'s
    /// memory (in host memory each value in `0 ... topk`).
    public init(topkLength: TensorView?, batchSize: Int, topk: Int, queryRows: Int, backend: Backend) throws(MLAError) {
        let range = 1 ... Int(Int32.max)
        guard range.contains(batchSize) else {
            throw .invalidArgument(argument: "batchSize", expected: "1...\(Int32.max)", given: "\(batchSize)")
        }
        guard range.contains(topk) else {
            throw .invalidArgument(argument: "topk", expected: "1...\(Int32.max)", given: "\(topk)")
        }
        guard range.contains(queryRows) else {
            throw .invalidArgument(argument: "queryRows", expected: "1...\(Int32.max)", given: "\(queryRows)")
        }
        if let topkLength {
            try Validation.checkTopkLength(topkLength, batchSize: batchSize)
            try Validation.checkStorage(topkLength, "topkLength", backend: backend)
        }
        let lengths = try Validation.sparseLengths(topkLength: topkLength, batchSize: batchSize, topk: topk)
        self.init(backend: backend, batchSize: batchSize, rowsPerKVHead: queryRows, kvHeads: 1, lengths: topkLength,
                  cap: topk, hostLengths: lengths, isSparse: true)
    }

    /// Validates a sparse call with an extra cache given its sizes: as
    /// ``init(topkLength:batchSize:topk:queryRows:backend:)``, and `extraTopk` (FlashMLA's
    /// `extra_topk`, nil: no extra cache) in 1 … 2³¹ − 1 − ⌈topk / 64⌉ · 64, `extraTopkLength` (only
    /// with `extraTopk`) a contiguous Int32 `[b]` in `backend`'s memory (in host memory each value
    /// in `0 ... extraTopk`). Each request is scheduled
    /// ``SparseIndices/scheduledLength(topkLength:extraTopkLength:)`` positions long.
    public init(topkLength: TensorView?, batchSize: Int, topk: Int, extraTopkLength: TensorView?, extraTopk: Int?,
                queryRows: Int, backend: Backend) throws(MLAError) {
        let main = try MetadataRequest(topkLength: topkLength, batchSize: batchSize, topk: topk, queryRows: queryRows,
                                       backend: backend)
        guard let extraTopk else {
            if extraTopkLength != nil {
                throw .invalidArgument(argument: "extraTopkLength", expected: "nil without an extra cache (extraTopk)",
                                       given: "a tensor")
            }
            self = main
            return
        }
        let limit = Int(Int32.max) - SparseIndices.mainBlockPositions(topkLength: topk)
        guard (1 ... max(limit, 1)).contains(extraTopk) else {
            throw .invalidArgument(argument: "extraTopk", expected: "1...\(limit)", given: "\(extraTopk)")
        }
        if let extraTopkLength {
            try Validation.checkTopkLength(extraTopkLength, batchSize: batchSize, argument: "extraTopkLength")
            try Validation.checkStorage(extraTopkLength, "extraTopkLength", backend: backend)
        }
        let extra = try Validation.sparseLengths(topkLength: extraTopkLength, batchSize: batchSize, topk: extraTopk,
                                                 argument: "extraTopkLength", listArgument: "extraIndices")
        self.init(backend: backend, batchSize: batchSize, rowsPerKVHead: queryRows, kvHeads: 1, lengths: topkLength,
                  cap: topk, extraLengths: extraTopkLength, extraCap: extraTopk,
                  hostLengths: Validation.scheduledLengths(main: main.hostLengths, extra: extra), isSparse: true)
    }

    /// The request of validated decode inputs: nothing is checked again.
    init(_ inputs: DecodeInputs) {
        self.init(backend: inputs.backend, batchSize: inputs.batchSize, rowsPerKVHead: inputs.rowsPerKVHead,
                  kvHeads: inputs.kvHeads,
                  lengths: inputs.sparse == nil ? inputs.cacheSeqlens : inputs.sparse?.topkLength,
                  cap: inputs.sparse?.topk ?? Int(Int32.max), extraLengths: inputs.sparse?.extraTopkLength,
                  extraCap: inputs.hasExtraCache ? inputs.sparse?.extraTopk ?? 0 : 0, hostLengths: inputs.hostLengths,
                  isSparse: inputs.sparse != nil)
    }

    private init(backend: Backend, batchSize: Int, rowsPerKVHead: Int, kvHeads: Int, lengths: TensorView?, cap: Int,
                 extraLengths: TensorView? = nil, extraCap: Int = 0, hostLengths: [Int32]?, isSparse: Bool) {
        self.isSparse = isSparse
        self.backend = backend
        self.batchSize = batchSize
        self.rowsPerKVHead = rowsPerKVHead
        self.kvHeads = kvHeads
        self.lengths = lengths
        self.cap = cap
        self.extraLengths = extraLengths
        self.extraCap = extraCap
        self.hostLengths = hostLengths
    }

    /// Throws unless caller-owned schedule tensors can receive this request's schedule:
    /// `tileSchedulerMetadata` a contiguous Int32 `[numSMParts, 8]` and `numSplits` a contiguous
    /// Int32 `[b + 1]`, both in the backend's memory. With `numSMParts` nil (the device's
    /// multiprocessor count unknown) the row count of `tileSchedulerMetadata` is not checked.
    public func checkOutputs(tileSchedulerMetadata: TensorView, numSplits: TensorView, numSMParts: Int?) throws(MLAError) {
        let fields = TileSchedule.fieldsPerPart
        try Validation.checkRank(tileSchedulerMetadata, "tileSchedulerMetadata", 2, layout: "[numSMParts, \(fields)]")
        let parts = numSMParts ?? tileSchedulerMetadata.shape[0]
        for (view, name, shape) in [(tileSchedulerMetadata, "tileSchedulerMetadata", [parts, fields]),
                                    (numSplits, "numSplits", [batchSize + 1])] {
            try Validation.checkType(view, name, .int32)
            try Validation.checkShape(view, name, shape)
            try Validation.checkContiguous(view, name)
            try Validation.checkStorage(view, name, backend: backend)
        }
    }

    /// Throws unless `rowsPerKVHead` (`s_q · h_q / h_kv`) and `kvHeads` are each in 1 … 2³¹ − 1
    /// (the kernels count in 32 bits): the check of the schedule calls' head counts, device-free.
    public static func checkHeads(rowsPerKVHead: Int, kvHeads: Int) throws(MLAError) {
        let range = 1 ... Int(Int32.max)
        guard range.contains(rowsPerKVHead) else {
            throw .invalidArgument(argument: "rowsPerKVHead", expected: "1...\(Int32.max)", given: "\(rowsPerKVHead)")
        }
        guard range.contains(kvHeads) else {
            throw .invalidArgument(argument: "kvHeads", expected: "1...\(Int32.max)", given: "\(kvHeads)")
        }
    }

    /// The schedule over `numSMParts` workers, computed on the host (the lengths must be
    /// host-readable: always so on the CPU backend).
    func hostSchedule(numSMParts: Int) -> TileSchedule {
        guard let hostLengths else { preconditionFailure("a host schedule needs lengths in host memory") }
        return TileSchedule(cacheSeqlens: hostLengths, numSMParts: numSMParts, rowsPerKVHead: rowsPerKVHead)
    }
}
