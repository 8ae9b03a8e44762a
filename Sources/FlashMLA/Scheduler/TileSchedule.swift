// TileSchedule: the split-KV tile schedule (host version).
/// The split-KV tile schedule: which worker computes which tokens of which request.
///
/// ## The scheme (FlashMLA's, with two changes)
/// A decode step has `b` requests; request `i` holds `cacheSeqlens[i]` tokens in pages of
/// ``blockSize`` (64). Its work is counted as `⌈len/64⌉` blocks plus a fixed cost `F`, the
/// cost of starting a piece of it (reading its queries, filling the page pipeline, writing its
/// output): ``SchedulePolicy/fixedCostBlocks``, standard or measured per card.
///
/// The GPU runs ``numSMParts(multiprocessors:rowsPerKVHead:kvHeads:)`` workers per
/// (query tile, KV head), so that all tiles and heads together fill the chip once. The
/// requests, in order, are cut into that many consecutive pieces of at most
/// `payload = ⌈Σ(blocks + F)/parts⌉ + F` units each, the cuts falling on 64-token
/// block boundaries. A worker takes whole requests while its payload lasts; where the next
/// request does not fit, it takes as many of its blocks as fit after paying the fixed cost
/// and leaves the rest to the next worker. A request cut into `k` pieces has `k` splits:
/// each writes a partial output and log-sum-exp, and the combine step merges them.
/// ``numSplits`` holds the prefix sums of the split counts, so request `i`'s partials sit
/// at rows `numSplits[i] ..< numSplits[i+1]` of the accumulators; a request with one split
/// is written straight to the output.
///
/// ## Where it differs from FlashMLA's
/// - **Whole requests when they balance.** A split costs more than its fixed cost: its fp32
///   partial output is written, read back and merged by the combine kernel. So before cutting,
///   the scheduler finds the smallest capacity `C` at which the requests, in order and whole,
///   fit the workers (each taking requests while their costs sum to at most `C`). If `C` is at
///   most the policy's slack above the payload (``SchedulePolicy/wholeRequestSlack(payload:)``;
///   standard: 12 blocks, and at most 1/32 of it), no request is split. This is the common case
///   of a batch of equal lengths: `b` requests of `n` blocks on `parts ≈ b` workers.
/// - **A smaller fixed cost for memory-bound tiles.** At most 64 query rows per KV head, a
///   piece's start costs about a page or two (measured on H100: 2 balances varied lengths
///   better than 5); above 64 rows, FlashMLA's 5.
/// - **Numbers per card.** The fixed cost and the slack are a ``SchedulePolicy``: the standard
///   one above, or the one `flashmla tune` measured on the device (its ``DecodeKernelTable``).
///
/// The GPU computes the same schedule in `Kernels/scheduler.cu`; the two must agree
/// exactly (a test holds them equal).
public struct TileSchedule: Equatable, Sendable {
    /// Tokens per KV-cache page, and per schedule block.
    public static let blockSize = 64
    /// Rows of one query tile: the `s_q·h_q/h_kv` query rows of a KV head are cut into tiles of this many.
    public static let queryTileRows = 64
    /// `Int32` values per worker in ``int32Encoding``.
    public static let fieldsPerPart = 8

    /// The tokens one worker computes: from `(beginRequest, beginToken)` up to `(endRequest, endToken)`.
    public struct Part: Equatable, Sendable {
        /// The first request of the worker.
        public var beginRequest: Int
        /// The first token of `beginRequest` (a multiple of 64).
        public var beginToken: Int
        /// The last request of the worker (inclusive); `beginRequest - 1` for an idle worker.
        public var endRequest: Int
        /// One past the last token of `endRequest`.
        public var endToken: Int
        /// Which split of `beginRequest` this worker's first piece is.
        public var beginSplit: Int

        /// Creates a part.
        public init(beginRequest: Int, beginToken: Int, endRequest: Int, endToken: Int, beginSplit: Int) {
            self.beginRequest = beginRequest
            self.beginToken = beginToken
            self.endRequest = endRequest
            self.endToken = endToken
            self.beginSplit = beginSplit
        }
    }

    /// One piece of one request, as a worker walks its part.
    public struct Piece: Equatable, Sendable {
        /// The request.
        public var request: Int
        /// The token range of the request this piece covers.
        public var tokens: Range<Int>
        /// The split index within the request.
        public var split: Int
    }

    /// The workers' parts, one per worker.
    public var parts: [Part]
    /// `b + 1` prefix sums of the split counts: request `i` has `numSplits[i+1] - numSplits[i]` splits.
    public var numSplits: [Int32]

    /// The number of workers per (query tile, KV head): FlashMLA's
    /// `max(1, multiprocessors / kvHeads / ⌈rowsPerKVHead / 64⌉)`.
    public static func numSMParts(multiprocessors: Int, rowsPerKVHead: Int, kvHeads: Int) -> Int {
        let tiles = (rowsPerKVHead + queryTileRows - 1) / queryTileRows
        return max(1, multiprocessors / max(kvHeads, 1) / max(tiles, 1))
    }

    /// Builds the schedule of `cacheSeqlens` over `numSMParts` workers for tiles of
    /// `rowsPerKVHead` query rows per KV head, with the standard policy for that row count
    /// (``SchedulePolicy/standard(rowsPerKVHead:)``).
    public init(cacheSeqlens: [Int32], numSMParts: Int, rowsPerKVHead: Int) {
        self.init(cacheSeqlens: cacheSeqlens, numSMParts: numSMParts, policy: .standard(rowsPerKVHead: rowsPerKVHead))
    }

    /// Builds the schedule of `cacheSeqlens` over `numSMParts` workers with `policy`'s fixed
    /// cost a piece and whole-request slack.
    public init(cacheSeqlens: [Int32], numSMParts: Int, policy: SchedulePolicy) {
        precondition(numSMParts >= 1)
        let fixed = policy.fixedCostBlocks
        let costs = cacheSeqlens.map { (max(Int($0), 0) + TileSchedule.blockSize - 1) / TileSchedule.blockSize + fixed }
        let plan = TileSchedule.plan(costs: costs, parts: numSMParts, policy: policy)

        var parts: [Part] = []
        parts.reserveCapacity(numSMParts)
        var numSplits = [Int32](repeating: 0, count: cacheSeqlens.count + 1)
        var request = 0, block = 0, split = 0, splitsSoFar: Int32 = 0
        for _ in 0..<numSMParts {
            let begin = (request, block * TileSchedule.blockSize, split)
            var remaining = plan.payload
            while request < cacheSeqlens.count {
                let left = costs[request] - fixed - block
                if remaining >= left + fixed {
                    splitsSoFar += Int32(split + 1)
                    numSplits[request + 1] = splitsSoFar
                    remaining -= left + fixed
                    request += 1
                    block = 0
                    split = 0
                } else {
                    if plan.splits && remaining - fixed > 0 {
                        block += remaining - fixed
                        split += 1
                    }
                    break
                }
            }
            let endRequest = block > 0 ? request : request - 1
            let endToken = block > 0 ? block * TileSchedule.blockSize
                : (request > 0 ? max(Int(cacheSeqlens[request - 1]), 0) : 0)
            parts.append(Part(beginRequest: begin.0, beginToken: begin.1,
                              endRequest: endRequest, endToken: endToken, beginSplit: begin.2))
        }
        self.parts = parts
        self.numSplits = numSplits
    }

    /// The walk's payload and whether it may cut requests, for requests of `costs` (blocks plus
    /// the fixed cost) over `parts` workers: whole requests at the smallest capacity that fits
    /// them, when that is within the policy's slack of the splitting payload.
    static func plan(costs: [Int], parts: Int, policy: SchedulePolicy) -> (payload: Int, splits: Bool) {
        let total = costs.reduce(0, +)
        let payload = (total + parts - 1) / parts + policy.fixedCostBlocks
        let limit = payload + policy.wholeRequestSlack(payload: payload)
        guard let largest = costs.max(), largest <= limit, fitsWhole(costs, parts: parts, capacity: limit) else {
            return (payload, true)
        }
        var low = max(largest, (total + parts - 1) / parts), high = limit   // fitsWhole(high) holds
        while low < high {
            let middle = (low + high) / 2
            if fitsWhole(costs, parts: parts, capacity: middle) { high = middle } else { low = middle + 1 }
        }
        return (high, false)
    }

    /// Whether the requests, in order and whole, fit `parts` workers of `capacity` each.
    static func fitsWhole(_ costs: [Int], parts: Int, capacity: Int) -> Bool {
        var workers = 1, load = 0
        for cost in costs {
            if cost > capacity { return false }
            if load + cost > capacity {
                workers += 1
                load = cost
            } else {
                load += cost
            }
        }
        return workers <= parts
    }

    /// Rebuilds a schedule from its `Int32` encoding (as the GPU writes it) and `numSplits`.
    public init(int32Encoding: [Int32], numSplits: [Int32]) {
        let width = TileSchedule.fieldsPerPart
        precondition(int32Encoding.count % width == 0)
        var parts: [Part] = []
        for base in stride(from: 0, to: int32Encoding.count, by: width) {
            let field = { (index: Int) -> Int in Int(int32Encoding[base + index]) }
            parts.append(Part(beginRequest: field(0), beginToken: field(1), endRequest: field(2),
                              endToken: field(3), beginSplit: field(4)))
        }
        self.parts = parts
        self.numSplits = numSplits
    }

    /// The `[numSMParts, 8]` encoding FlashMLA's `tile_scheduler_metadata` uses:
    /// begin request, begin token, end request, end token, begin split, then three zeros.
    public var int32Encoding: [Int32] {
        var encoding: [Int32] = []
        encoding.reserveCapacity(parts.count * TileSchedule.fieldsPerPart)
        for part in parts {
            let fields: [Int] = [part.beginRequest, part.beginToken, part.endRequest, part.endToken, part.beginSplit, 0, 0, 0]
            encoding += fields.map { Int32($0) }
        }
        return encoding
    }

    /// The number of workers.
    public var numSMParts: Int { parts.count }

    /// The total number of splits, `numSplits.last`.
    public var totalSplits: Int { Int(numSplits.last ?? 0) }

    /// The pieces worker `part` computes, in order, given the requests' lengths.
    public func pieces(ofPart index: Int, cacheSeqlens: [Int32]) -> [Piece] {
        let part = parts[index]
        guard part.endRequest >= part.beginRequest else { return [] }
        return (part.beginRequest...part.endRequest).map { request in
            let first = request == part.beginRequest
            let start = first ? part.beginToken : 0
            let end = request == part.endRequest ? part.endToken : Int(cacheSeqlens[request])
            return Piece(request: request, tokens: start..<end, split: first ? part.beginSplit : 0)
        }
    }
}
