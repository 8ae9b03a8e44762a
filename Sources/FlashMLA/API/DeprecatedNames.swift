// The public names that `rowsPerKVHead` replaced, kept as deprecated forwards so that code
// written against them still compiles.

extension MLAEngine {
    /// The schedule for these lengths and heads; use ``getMLAMetadata(cacheSeqlens:rowsPerKVHead:kvHeads:)``.
    @available(*, deprecated, renamed: "getMLAMetadata(cacheSeqlens:rowsPerKVHead:kvHeads:)")
    public func getMLAMetadata(cacheSeqlens: TensorView, queryHeadsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> MLAMetadata {
        try getMLAMetadata(cacheSeqlens: cacheSeqlens, rowsPerKVHead: queryHeadsPerKVHead, kvHeads: kvHeads)
    }
}

extension CUDABackend {
    /// The schedule's worker count; use ``numSMParts(rowsPerKVHead:kvHeads:)``.
    @available(*, deprecated, renamed: "numSMParts(rowsPerKVHead:kvHeads:)")
    public func numSMParts(queryHeadsPerKVHead: Int, kvHeads: Int) throws(MLAError) -> Int {
        try numSMParts(rowsPerKVHead: queryHeadsPerKVHead, kvHeads: kvHeads)
    }

    /// The schedule into caller-owned memory; use
    /// ``metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)``.
    @available(*, deprecated, renamed: "metadata(cacheSeqlens:rowsPerKVHead:kvHeads:tileSchedulerMetadata:numSplits:stream:)")
    public func metadata(
        cacheSeqlens: TensorView, queryHeadsPerKVHead: Int, kvHeads: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, stream: ExecutionStream
    ) throws(MLAError) -> MLAMetadata {
        try metadata(cacheSeqlens: cacheSeqlens, rowsPerKVHead: queryHeadsPerKVHead, kvHeads: kvHeads,
                     tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits, stream: stream)
    }

    /// Checks metadata arguments without a device; use ``MetadataRequest`` and its
    /// ``MetadataRequest/checkOutputs(tileSchedulerMetadata:numSplits:numSMParts:)``.
    @available(*, deprecated, message: "use MetadataRequest(cacheSeqlens:rowsPerKVHead:kvHeads:backend:) and its checkOutputs")
    public static func checkMetadataArguments(
        device ordinal: Int, cacheSeqlens: TensorView, queryHeadsPerKVHead: Int, kvHeads: Int,
        tileSchedulerMetadata: TensorView, numSplits: TensorView, numSMParts: Int?
    ) throws(MLAError) {
        try checkMetadataArguments(device: ordinal, cacheSeqlens: cacheSeqlens, rowsPerKVHead: queryHeadsPerKVHead,
                                   kvHeads: kvHeads, tileSchedulerMetadata: tileSchedulerMetadata, numSplits: numSplits,
                                   numSMParts: numSMParts)
    }
}

extension TileSchedule {
    /// A piece's standard fixed cost in blocks; use ``SchedulePolicy/standard(rowsPerKVHead:)``.
    @available(*, deprecated, message: "use SchedulePolicy.standard(rowsPerKVHead:).fixedCostBlocks")
    public static func fixedCostBlocks(queryHeadsPerKVHead: Int) -> Int {
        SchedulePolicy.standard(rowsPerKVHead: queryHeadsPerKVHead).fixedCostBlocks
    }

    /// A piece's standard fixed cost in blocks; use ``SchedulePolicy/standard(rowsPerKVHead:)``.
    @available(*, deprecated, message: "use SchedulePolicy.standard(rowsPerKVHead:).fixedCostBlocks")
    public static func fixedCostBlocks(rowsPerKVHead: Int) -> Int {
        SchedulePolicy.standard(rowsPerKVHead: rowsPerKVHead).fixedCostBlocks
    }

    /// The standard whole-request slack in blocks; use ``SchedulePolicy/standard(rowsPerKVHead:)``.
    @available(*, deprecated, message: "use SchedulePolicy.standard(rowsPerKVHead:).wholeRequestSlackBlocks")
    public static var wholeRequestSlackBlocks: Int { SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlackBlocks }

    /// The standard slack's divisor; use ``SchedulePolicy/standardSlackDivisor``.
    @available(*, deprecated, message: "use SchedulePolicy.standardSlackDivisor")
    public static var wholeRequestSlackDivisor: Int { SchedulePolicy.standardSlackDivisor }

    /// The standard slack for a splitting payload; use ``SchedulePolicy/wholeRequestSlack(payload:)``.
    @available(*, deprecated, message: "use SchedulePolicy.standard(rowsPerKVHead:).wholeRequestSlack(payload:)")
    public static func wholeRequestSlack(payload: Int) -> Int {
        SchedulePolicy.standard(rowsPerKVHead: 1).wholeRequestSlack(payload: payload)
    }

    /// Workers per (query tile, KV head); use ``numSMParts(multiprocessors:rowsPerKVHead:kvHeads:)``.
    @available(*, deprecated, renamed: "numSMParts(multiprocessors:rowsPerKVHead:kvHeads:)")
    public static func numSMParts(multiprocessors: Int, queryHeadsPerKVHead: Int, kvHeads: Int) -> Int {
        numSMParts(multiprocessors: multiprocessors, rowsPerKVHead: queryHeadsPerKVHead, kvHeads: kvHeads)
    }

    /// The schedule of these lengths; use ``init(cacheSeqlens:numSMParts:rowsPerKVHead:)``.
    @available(*, deprecated, renamed: "init(cacheSeqlens:numSMParts:rowsPerKVHead:)")
    public init(cacheSeqlens: [Int32], numSMParts: Int, queryHeadsPerKVHead: Int) {
        self.init(cacheSeqlens: cacheSeqlens, numSMParts: numSMParts, rowsPerKVHead: queryHeadsPerKVHead)
    }
}

extension MetadataShape {
    /// `s_q · h_q / h_kv`; use ``rowsPerKVHead``.
    @available(*, deprecated, renamed: "rowsPerKVHead")
    public var queryHeadsPerKVHead: Int {
        get { rowsPerKVHead }
        set { rowsPerKVHead = newValue }
    }

    /// Creates a shape; use ``init(batchSize:rowsPerKVHead:kvHeads:numSMParts:)``.
    @available(*, deprecated, renamed: "init(batchSize:rowsPerKVHead:kvHeads:numSMParts:)")
    public init(batchSize: Int, queryHeadsPerKVHead: Int, kvHeads: Int, numSMParts: Int) {
        self.init(batchSize: batchSize, rowsPerKVHead: queryHeadsPerKVHead, kvHeads: kvHeads, numSMParts: numSMParts)
    }
}
