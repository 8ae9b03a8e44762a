// DecodeProblem: one validated decode call (its inputs, its schedule and its outputs).
/// One validated decode call: ``DecodeInputs`` with the schedule and the outputs, each checked
/// once. The backends read it and never re-derive or re-check a shape.
///
/// The inputs' properties read through it (`problem.batchSize`, `problem.q`, …).
@dynamicMemberLookup
public struct DecodeProblem: Sendable {
    /// The key (and query) head dimension: 576.
    public static let headDim = 576
    /// The value head dimension: 512, the first 512 of the 576 cached values.
    public static let headDimV = 512

    /// The validated inputs.
    public let inputs: DecodeInputs
    /// The schedule, checked against the inputs.
    public let metadata: MLAMetadata
    /// `[b, s_q, h_q, 512]`, the type of `q`, contiguous.
    public let out: TensorView
    /// Float32 `[b, h_q, s_q]`, contiguous.
    public let lse: TensorView

    /// A property of ``inputs``.
    public subscript<Value>(dynamicMember keyPath: KeyPath<DecodeInputs, Value>) -> Value {
        inputs[keyPath: keyPath]
    }

    /// Completes validated `inputs` with their schedule and outputs, checking only these: that
    /// `metadata` was made for the inputs' shapes (and, on the CPU with lengths the host can
    /// read, for their lengths) and lives in the backend's memory, and that `out` and `lse` have
    /// the inputs' output shapes and types, contiguous, in the backend's memory.
    ///
    /// - Throws: ``MLAError/invalidArgument(argument:expected:given:)`` for the first failed check.
    public init(_ inputs: DecodeInputs, metadata: MLAMetadata, out: TensorView, lse: TensorView) throws(MLAError) {
        try Validation.checkMetadata(metadata, for: inputs)
        try Validation.checkRank(out, "out", 4, layout: "[b, s_q, h_q, \(DecodeProblem.headDimV)]")
        try Validation.checkRank(lse, "lse", 3, layout: "[b, h_q, s_q]")
        try Validation.checkType(out, "out", inputs.elementType)
        try Validation.checkType(lse, "lse", .float32)
        try Validation.checkShape(out, "out", inputs.outShape)
        try Validation.checkShape(lse, "lse", inputs.lseShape)
        try Validation.checkContiguous(out, "out")
        try Validation.checkContiguous(lse, "lse")
        try Validation.checkStorage(out, "out", backend: inputs.backend)
        try Validation.checkStorage(lse, "lse", backend: inputs.backend)
        self.inputs = inputs
        self.metadata = metadata
        self.out = out
        self.lse = lse
    }
}

extension DecodeInputs {
    /// Throws unless `metadata` was made for these inputs (what ``DecodeProblem/init(_:metadata:out:lse:)``
    /// checks of it), for a caller that validates a call before it has outputs.
    public func checkMetadata(_ metadata: MLAMetadata) throws(MLAError) {
        try Validation.checkMetadata(metadata, for: self)
    }
}

extension Validation {
    /// Throws unless `metadata` was made for `inputs`: its shape (b, rows per KV head, KV heads),
    /// `tileSchedulerMetadata` a contiguous Int32 `[numSMParts ≥ 1, 8]` and `numSplits` a
    /// contiguous Int32 `[b + 1]`, both in the backend's memory; on the CPU a host schedule of
    /// that many workers, which (when the host reads the lengths) is the schedule of these lengths.
    static func checkMetadata(_ metadata: MLAMetadata, for inputs: DecodeInputs) throws(MLAError) {
        let given = metadata.shape, backend = inputs.backend
        let expected = inputs.metadataShape(numSMParts: given.numSMParts)
        guard given == expected else {
            throw .invalidArgument(argument: "metadata", expected: expected.description, given: given.description)
        }
        let fields = TileSchedule.fieldsPerPart
        let schedule = metadata.tileSchedulerMetadata, splits = metadata.numSplits
        try checkRank(schedule, "tileSchedulerMetadata", 2, layout: "[numSMParts, \(fields)]")
        try checkType(schedule, "tileSchedulerMetadata", .int32)
        guard given.numSMParts >= 1 else {
            throw .invalidArgument(argument: "tileSchedulerMetadata", expected: "int32[num_sm_parts, \(fields)] with num_sm_parts >= 1",
                                   given: schedule.shapeDescription)
        }
        try checkShape(schedule, "tileSchedulerMetadata", [given.numSMParts, fields])
        try checkContiguous(schedule, "tileSchedulerMetadata")
        try checkStorage(schedule, "tileSchedulerMetadata", backend: backend)
        try checkRank(splits, "numSplits", 1, layout: "[b + 1]")
        try checkType(splits, "numSplits", .int32)
        try checkShape(splits, "numSplits", [inputs.batchSize + 1])
        try checkContiguous(splits, "numSplits")
        try checkStorage(splits, "numSplits", backend: backend)
        guard backend == .cpu else { return }
        guard let host = metadata.hostSchedule, host.numSMParts == given.numSMParts,
              host.numSplits.count == inputs.batchSize + 1 else {
            throw .invalidArgument(argument: "metadata", expected: "a host schedule (from a cpu engine)",
                                   given: "metadata without one, in \(storageDescription(schedule.storage))")
        }
        if let lengths = inputs.hostLengths,
           host != TileSchedule(cacheSeqlens: lengths, numSMParts: given.numSMParts, rowsPerKVHead: given.rowsPerKVHead) {
            let what = inputs.isSparse ? "topkLength values" : "cacheSeqlens"
            throw .invalidArgument(argument: "metadata", expected: "the schedule of these \(what)",
                                   given: "a schedule of other lengths (numSplits \(host.numSplits))")
        }
    }
}
