// SchedulePolicy: the tile schedule's cost numbers (fixed cost a piece, whole-request slack).
/// The numbers the tile schedule trades with (``TileSchedule``): what starting a piece costs,
/// and how much imbalance is worth accepting to split no request.
///
/// Both are in blocks of 64 tokens of the kernel that runs, so they are properties of a card and
/// a kernel: ``standard(rowsPerKVHead:)`` holds the values measured on the H100 (and FlashMLA's
/// fixed cost above 64 rows); `flashmla tune` measures a device's own for each row class and
/// stores them in its ``DecodeKernelTable``, which the CUDA backend's dense schedules then use.
/// Sparse schedules and the CPU backend always use ``standard(rowsPerKVHead:)``.
public struct SchedulePolicy: Codable, Sendable, Equatable {
    /// The cost of one piece of a request, in blocks: reading its query tile, filling the page
    /// pipeline and writing its output. `payload = ⌈Σ(blocks + F)/parts⌉ + F`.
    public var fixedCostBlocks: Int
    /// How far above the splitting payload, in blocks, the smallest capacity that fits every
    /// request whole may be for the schedule to split none: the cost of a split (a second
    /// piece, its fp32 partial written and read back, the combine) measured in blocks.
    public var wholeRequestSlackBlocks: Int
    /// The payload divided by this bounds the slack too, so that a short batch, whose split
    /// costs the combine little, is not left unbalanced by more than about 1/divisor.
    public var wholeRequestSlackDivisor: Int

    /// Creates a policy; each number is clamped to its meaningful range (the fixed cost and the
    /// slack to 0 … 256 blocks, the divisor to at least 1).
    public init(fixedCostBlocks: Int, wholeRequestSlackBlocks: Int, wholeRequestSlackDivisor: Int = SchedulePolicy.standardSlackDivisor) {
        self.fixedCostBlocks = min(max(fixedCostBlocks, 0), Self.largestBlocks)
        self.wholeRequestSlackBlocks = min(max(wholeRequestSlackBlocks, 0), Self.largestBlocks)
        self.wholeRequestSlackDivisor = max(wholeRequestSlackDivisor, 1)
    }

    /// The largest fixed cost or slack a policy holds, in blocks (16384 tokens).
    public static let largestBlocks = 256
    /// The standard divisor of the slack (a 32nd of the payload).
    public static let standardSlackDivisor = 32

    /// The policy measured on the H100 (bench/DECISIONS.md D37, D38): a fixed cost of 2 blocks up
    /// to 64 rows per KV head (the memory-bound kernels: a piece's start costs a page or two) and
    /// FlashMLA's 5 above; whole requests within 12 blocks, and a 32nd, of the payload (with equal
    /// lengths whole requests were 3.5–4.5% faster at 3 blocks above the payload, 2.5–4% at 10,
    /// and within noise at 11).
    public static func standard(rowsPerKVHead: Int) -> SchedulePolicy {
        SchedulePolicy(fixedCostBlocks: rowsPerKVHead <= TileSchedule.queryTileRows ? 2 : 5, wholeRequestSlackBlocks: 12)
    }

    /// The slack for a splitting payload of `payload` blocks: at most ``wholeRequestSlackBlocks``
    /// and at most a ``wholeRequestSlackDivisor``-th of the payload.
    public func wholeRequestSlack(payload: Int) -> Int {
        min(wholeRequestSlackBlocks, payload / wholeRequestSlackDivisor)
    }

    /// Reads a stored policy, clamping each number as ``init(fixedCostBlocks:wholeRequestSlackBlocks:wholeRequestSlackDivisor:)`` does.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(fixedCostBlocks: try container.decode(Int.self, forKey: .fixedCostBlocks),
                  wholeRequestSlackBlocks: try container.decode(Int.self, forKey: .wholeRequestSlackBlocks),
                  wholeRequestSlackDivisor: try container.decodeIfPresent(Int.self, forKey: .wholeRequestSlackDivisor)
                      ?? Self.standardSlackDivisor)
    }
}
