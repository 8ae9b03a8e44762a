// Tests of `flashmla tune`'s choice and its tuning grid.
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
}
