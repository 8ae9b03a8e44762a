// MLAMetadata and MetadataShape: the split-KV schedule and the shapes it was made for.
/// The shapes a metadata object was made for; a decode call checks that they match.
public struct MetadataShape: Equatable, Sendable, CustomStringConvertible {
    /// Requests in the batch, `b`.
    public var batchSize: Int
    /// `s_q · h_q / h_kv`: the query rows that share one KV head.
    public var rowsPerKVHead: Int
    /// KV heads, `h_kv`.
    public var kvHeads: Int
    /// Workers per (query tile, KV head); see ``TileSchedule``.
    public var numSMParts: Int

    /// Creates a shape.
    public init(batchSize: Int, rowsPerKVHead: Int, kvHeads: Int, numSMParts: Int) {
        self.batchSize = batchSize
        self.rowsPerKVHead = rowsPerKVHead
        self.kvHeads = kvHeads
        self.numSMParts = numSMParts
    }

    public var description: String {
        "b=\(batchSize), rowsPerKVHead=\(rowsPerKVHead), kvHeads=\(kvHeads), numSMParts=\(numSMParts)"
    }
}

/// What `getMLAMetadata` returns: FlashMLA's `tile_scheduler_metadata` and `num_splits`.
///
/// On the CPU backend both live in host memory; on the CUDA backend in device memory,
/// written by the scheduler kernel without a host round trip. The object keeps its
/// memory alive; reuse it for every layer of one decode step.
public final class MLAMetadata: @unchecked Sendable {
    /// The shapes this metadata was made for.
    public let shape: MetadataShape
    /// Int32 `[numSMParts, 8]`: per worker, begin request, begin token, end request, end token, begin split.
    public let tileSchedulerMetadata: TensorView
    /// Int32 `[b + 1]`: prefix sums of each request's split count.
    public let numSplits: TensorView
    /// The schedule itself when it was computed on the host.
    public let hostSchedule: TileSchedule?
    private let owners: [AnyObject]

    /// Wraps metadata whose memory `owners` keep alive.
    public init(shape: MetadataShape, tileSchedulerMetadata: TensorView, numSplits: TensorView,
                hostSchedule: TileSchedule?, owners: [AnyObject]) {
        self.shape = shape
        self.tileSchedulerMetadata = tileSchedulerMetadata
        self.numSplits = numSplits
        self.hostSchedule = hostSchedule
        self.owners = owners
    }

    /// Metadata in host memory for `schedule`.
    public convenience init(shape: MetadataShape, hostSchedule schedule: TileSchedule) {
        let metadata = Tensor(schedule.int32Encoding, shape: [schedule.numSMParts, TileSchedule.fieldsPerPart])
        let splits = Tensor(schedule.numSplits, shape: [schedule.numSplits.count])
        self.init(shape: shape, tileSchedulerMetadata: metadata.view, numSplits: splits.view,
                  hostSchedule: schedule, owners: [metadata, splits])
    }

    /// Wraps caller-owned schedule tensors (FlashMLA's `tile_scheduler_metadata` and `num_splits`)
    /// made for `shape`; nothing is checked here (a ``DecodeProblem`` checks them against its
    /// inputs). Host tensors of Int32 `[n, 8]` and `[m]` are read into ``hostSchedule``, the form
    /// the CPU backend computes from. The tensors are not kept alive.
    public convenience init(shape: MetadataShape, callerTileSchedulerMetadata schedule: TensorView, numSplits splits: TensorView) {
        var host: TileSchedule? = nil
        if schedule.hostPointer != nil, splits.hostPointer != nil, schedule.elementType == .int32,
           splits.elementType == .int32, schedule.rank == 2, schedule.shape[1] == TileSchedule.fieldsPerPart, splits.rank == 1 {
            host = TileSchedule(int32Encoding: Validation.hostInt32(schedule), numSplits: Validation.hostInt32(splits))
        }
        self.init(shape: shape, tileSchedulerMetadata: schedule, numSplits: splits, hostSchedule: host, owners: [])
    }

    /// An upper bound on the total number of splits, `b + numSMParts`: each worker cuts at
    /// most one request. Split accumulators sized by it fit any schedule of this shape.
    public var maxTotalSplits: Int { shape.batchSize + shape.numSMParts }
}
