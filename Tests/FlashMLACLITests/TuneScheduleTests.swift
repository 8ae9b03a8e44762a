// Tests of the probes `flashmla tune` measures the schedule's numbers with.
import FlashMLA
import Foundation
import Testing
@testable import FlashMLACLI

/// The schedule probes: their grid, and the policy their times give.
@Suite struct TuneScheduleTests {
    /// Times made by the probes' model (a call's constant c, a block s, a piece's start F·s, a
    /// split's cost S·s) give back F and S, rounded to whole blocks.
    @Test func theProbesGiveBackTheFixedCostAndTheSplitCost() throws {
        let blocks = 128, c = 0.011, s = 0.0025
        func times(fixed: Double, split: Double) -> [ScheduleProbe: Double] {
            [.whole: c + fixed * s + Double(blocks) * s, .half: c + fixed * s + Double(blocks / 2) * s,
             .quarters: c + 4 * fixed * s + Double(blocks) * s, .split: c + fixed * s + Double(blocks) * s + split * s]
        }
        let measured = try #require(TuneCommand.schedulePolicy(times: times(fixed: 2.3, split: 10.6), blocks: blocks))
        #expect(measured.policy == SchedulePolicy(fixedCostBlocks: 2, wholeRequestSlackBlocks: 11))
        #expect(abs(measured.blockMilliseconds - s) < 1e-12 && abs(measured.fixedCost - 2.3) < 1e-9 && abs(measured.splitCost - 10.6) < 1e-9)
        let other = try #require(TuneCommand.schedulePolicy(times: times(fixed: 4.6, split: 3.2), blocks: blocks))
        #expect(other.policy == SchedulePolicy(fixedCostBlocks: 5, wholeRequestSlackBlocks: 3))
        // Noise that makes a cost negative gives 0, not a negative number of blocks.
        var noisy = times(fixed: 0, split: 0)
        noisy[.quarters]! -= 0.001
        noisy[.split]! -= 0.001
        #expect(TuneCommand.schedulePolicy(times: noisy, blocks: blocks)?.policy == SchedulePolicy(fixedCostBlocks: 0, wholeRequestSlackBlocks: 0))
        // A missing probe, or a block that took no time, measures nothing.
        var missing = times(fixed: 2, split: 10)
        missing[.split] = nil
        #expect(TuneCommand.schedulePolicy(times: missing, blocks: blocks) == nil)
        var flat = times(fixed: 2, split: 10)
        flat[.half] = flat[.whole]
        #expect(TuneCommand.schedulePolicy(times: flat, blocks: blocks) == nil)
    }

    /// The probes' grid: four uniform configurations of the class, told apart by batch and
    /// length, each as many blocks a worker as `whole` (`half`: half as many).
    @Test func theScheduleProbesAreFourDistinctUniformProblems() throws {
        let parts = 132, blocks = TuneCommand.scheduleBlocks(seqlen: 8192)
        #expect(blocks == 128 && TuneCommand.scheduleBlocks(seqlen: 100) == 8 && TuneCommand.scheduleBlocks(seqlen: 1000) == 12)
        let object = try JSONSerialization.jsonObject(with: try TuneCommand.scheduleGridJSON(rows: 32, parts: parts, blocks: blocks)) as? [String: Any]
        let configs = try #require(object?["configs"] as? [[String: Any]])
        // Forward, then backward: a drift over the run weighs on every probe's mean alike.
        #expect(TuneCommand.probeOrder == [.whole, .half, .quarters, .split, .split, .quarters, .half, .whole])
        #expect(configs.count == TuneCommand.probeOrder.count)
        var keys = Set<[Int]>()
        for (config, probe) in zip(configs, TuneCommand.probeOrder) {
            let lengths = try #require(config["cache_seqlens"] as? [Int])
            #expect(lengths.count == probe.batch(parts: parts) && config["b"] as? Int == lengths.count)
            #expect(lengths.allSatisfy { $0 == probe.blocks(blocks) * 64 } && config["mean_sk"] as? Int == lengths[0])
            #expect(config["h_q"] as? Int == 32 && config["s_q"] as? Int == 1 && config["h_kv"] as? Int == 1)
            keys.insert([lengths.count, lengths[0]])
            let perWorker = lengths.count * probe.blocks(blocks) / (probe == .split ? parts / 2 * 2 : parts)
            #expect(perWorker == (probe == .half ? blocks / 2 : blocks), "\(probe)")
        }
        #expect(keys.count == 4)
        // The standard schedule runs each probe as the model says: whole requests, one piece a
        // worker except `quarters` (four) and `split` (every request cut, one piece a worker).
        for probe in ScheduleProbe.allCases {
            let lengths = [Int32](repeating: Int32(probe.blocks(blocks) * 64), count: probe.batch(parts: parts))
            let schedule = TileSchedule(cacheSeqlens: lengths, numSMParts: parts, rowsPerKVHead: 32)
            #expect(schedule.totalSplits == (probe == .split ? 2 * lengths.count : lengths.count), "\(probe)")
            let pieces = (0 ..< parts).map { schedule.pieces(ofPart: $0, cacheSeqlens: lengths).count }
            #expect(pieces.allSatisfy { $0 == (probe == .quarters ? 4 : 1) }, "\(probe) \(pieces)")
        }
    }
}
