// Tests of `flashmla tune`'s choice and its tuning grid.
import FlashMLA
import Foundation
import Testing
@testable import FlashMLACLI

/// `flashmla tune`'s choice and its tuning grid.
@Suite struct TuneTests {
    @Test func theRulesKernelStaysUnlessAnotherIsClearlyFaster() {
        let rule = "sm90-lockstep"
        // Within the margin: the rule's kernel, even when another is a little faster.
        #expect(TuneCommand.choice(times: ["sm80": 0.995, "sm90-lockstep": 1.0], rule: rule, margin: 0.01) == rule)
        // Faster by more than the margin: the faster kernel.
        #expect(TuneCommand.choice(times: ["sm80": 0.95, "sm90-lockstep": 1.0, "sm90-seesaw": 1.2], rule: rule, margin: 0.01) == "sm80")
        #expect(TuneCommand.choice(times: ["sm80": 1.3, "sm90-lockstep": 1.0, "sm90-seesaw": 0.9], rule: rule, margin: 0.01) == "sm90-seesaw")
        // The rule's kernel not measured: the fastest measured.
        #expect(TuneCommand.choice(times: ["sm80": 2, "sm90-seesaw": 1], rule: rule, margin: 0.5) == "sm90-seesaw")
        #expect(TuneCommand.choice(times: [:], rule: rule, margin: 0.01) == rule)
    }

    /// Three uniform configurations per row class: half, once and twice the length.
    @Test func theTuningGridHasThreeUniformConfigurationsPerRowClass() throws {
        let object = try JSONSerialization.jsonObject(with: try TuneCommand.gridJSON(seqlen: 4096)) as? [String: Any]
        let configs = try #require(object?["configs"] as? [[String: Any]])
        #expect(configs.map { $0["h_q"] as? Int } == TuneCommand.rowClasses.flatMap { [$0, $0, $0] })
        #expect(configs.map { $0["mean_sk"] as? Int } == Array(repeating: [2048, 4096, 8192], count: TuneCommand.rowClasses.count).flatMap { $0 })
        for config in configs {
            let lengths = try #require(config["cache_seqlens"] as? [Int])
            #expect(lengths.count == TuneCommand.batch && lengths.allSatisfy { $0 == config["mean_sk"] as? Int })
            #expect(config["s_q"] as? Int == 1 && config["h_kv"] as? Int == 1)
        }
        // A kernel's time for a class is the geometric mean over the lengths.
        #expect(abs(TuneCommand.geometricMean([0.1, 0.4, 1.6]) - 0.4) < 1e-12)
    }

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
