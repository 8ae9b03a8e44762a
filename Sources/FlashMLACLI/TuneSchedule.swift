// TuneSchedule: the probes `flashmla tune` measures a row class's schedule numbers with.
import FlashMLA
import Foundation

/// The four uniform problems that measure a row class's ``SchedulePolicy`` over its `P`
/// workers (``TileSchedule/numSMParts(multiprocessors:rowsPerKVHead:kvHeads:)``, one KV head,
/// s_q 1) with `n` blocks a worker. Every one is scheduled whole or evenly cut, so a worker's
/// time is its pieces' fixed costs plus its blocks:
/// - `whole`: `P` requests of `n` blocks, one piece a worker: `t = c + F + n`;
/// - `half`: `P` requests of `n/2` blocks: `t = c + F + n/2`, so a block is `(whole − half)/(n/2)`;
/// - `quarters`: `4P` requests of `n/4` blocks, four pieces a worker, the same `n` blocks:
///   `t = c + 4F + n`, so the fixed cost is `(quarters − whole)/3` blocks;
/// - `split`: `⌊P/2⌋` requests of `2n` blocks, each cut in two (one piece a worker again): what
///   it costs over `whole` is the split itself (the partial outputs written and merged), the
///   imbalance worth accepting to split nothing: the slack.
enum ScheduleProbe: CaseIterable, Hashable {
    case whole, half, quarters, split

    /// Requests of the probe over `parts` workers.
    func batch(parts: Int) -> Int {
        switch self {
        case .whole, .half: parts
        case .quarters: 4 * parts
        case .split: parts / 2
        }
    }

    /// Blocks a request of the probe, for `blocks` blocks a worker.
    func blocks(_ blocks: Int) -> Int {
        switch self {
        case .whole: blocks
        case .half: blocks / 2
        case .quarters: blocks / 4
        case .split: 2 * blocks
        }
    }
}

extension TuneCommand {
    /// Blocks a worker in the schedule probes: `seqlen` in blocks, a multiple of 4, at least 8.
    static func scheduleBlocks(seqlen: Int) -> Int {
        max(8, seqlen / TileSchedule.blockSize / 4 * 4)
    }

    /// The probes in the order they are timed: forward, then backward, so that a drift of the
    /// card's clock over the run (it reaches its power limit) adds the same to every probe's mean.
    static let probeOrder: [ScheduleProbe] = ScheduleProbe.allCases + ScheduleProbe.allCases.reversed()

    /// The grid of a row class's probes in ``probeOrder`` (h_kv 1, s_q 1, uniform lengths).
    static func scheduleGridJSON(rows: Int, parts: Int, blocks: Int) throws -> Data {
        let configs = probeOrder.map { probe in
            uniformConfig(batch: probe.batch(parts: parts), rows: rows, seqlen: probe.blocks(blocks) * TileSchedule.blockSize)
        }
        return try JSONSerialization.data(withJSONObject: ["name": "tune-schedule", "dtype": "bf16", "configs": configs])
    }

    /// A measured policy and the numbers behind it.
    struct MeasuredPolicy: Equatable {
        /// The policy: each cost rounded to whole blocks, at least 0.
        var policy: SchedulePolicy
        /// A block's time.
        var blockMilliseconds: Double
        /// A piece's start, in blocks (unrounded).
        var fixedCost: Double
        /// A split's cost over the whole requests, in blocks (unrounded).
        var splitCost: Double
    }

    /// The schedule policy the probes' times give (``ScheduleProbe``), for `blocks` blocks a
    /// worker; nil when a probe is missing or a block did not take measurable time.
    static func schedulePolicy(times: [ScheduleProbe: Double], blocks: Int) -> MeasuredPolicy? {
        guard let whole = times[.whole], let half = times[.half], let quarters = times[.quarters], let split = times[.split]
        else { return nil }
        let block = (whole - half) / Double(blocks / 2)
        guard block > 0, block.isFinite else { return nil }
        let fixed = (quarters - whole) / 3 / block, splitCost = (split - whole) / block
        let policy = SchedulePolicy(fixedCostBlocks: Int(fixed.rounded()), wholeRequestSlackBlocks: Int(splitCost.rounded()))
        return MeasuredPolicy(policy: policy, blockMilliseconds: block, fixedCost: fixed, splitCost: splitCost)
    }
}
