// Tests of the CPU backend's split-KV mode against its direct mode.
import Foundation
import Testing
import FlashMLATesting
@testable import FlashMLA

/// The split-KV mode against the direct mode, on schedules that really split requests.
@Suite struct SplitKVTests {
    static let cases: [(ProblemConfig, Int)] = [
        (ProblemConfig(cacheSeqlens: [1280, 0, 65, 300], queryLength: 1, queryHeads: 2, kvHeads: 1, causal: false,
                     elementType: .bfloat16), 3),
        (ProblemConfig(cacheSeqlens: [900, 1, 64], queryLength: 2, queryHeads: 4, kvHeads: 2, causal: true,
                     elementType: .float16), 7),
        (ProblemConfig(cacheSeqlens: [1000, 130, 0, 63], queryLength: 4, queryHeads: 3, kvHeads: 1, causal: true,
                     elementType: .bfloat16), 132),
        (ProblemConfig(cacheSeqlens: [700], queryLength: 3, queryHeads: 2, kvHeads: 2, causal: true,
                     elementType: .float16), 132),
    ]

    @Test("split-KV equals direct", arguments: 0 ..< cases.count)
    func splitEqualsDirect(index: Int) throws {
        let (spec, multiprocessors) = Self.cases[index]
        var generator = SeededGenerator.fresh()
        let problem = RandomProblem(spec, using: &generator)
        let context = "\(spec), \(multiprocessors) multiprocessors, seed \(generator.seed)"
        let direct = try problem.runCPU(mode: .direct, multiprocessors: multiprocessors)
        let split = try problem.runCPU(mode: .splitKV, multiprocessors: multiprocessors)

        let schedule = try #require(split.metadata.hostSchedule)
        let splitCounts = (0 ..< spec.batchSize).map { schedule.numSplits[$0 + 1] - schedule.numSplits[$0] }
        #expect(splitCounts.contains { $0 > 1 }, "no request was split: \(splitCounts) — \(context)")

        let cos = Comparison.cosDiff(direct.out.map(Double.init), split.out.map(Double.init))
        #expect(cos < 1e-5, "cos-diff \(cos) — \(context)")
        #expect(!split.out.contains { $0.isNaN }, "NaN in out — \(context)")
        let lseDiff = Comparison.maxAbsDiff(direct.lse.map(Double.init), split.lse.map(Double.init))
        #expect(lseDiff < 1e-4, "max |lse diff| \(lseDiff) — \(context)")
    }

    @Test("split-KV is deterministic")
    func deterministic() throws {
        var generator = SeededGenerator.fresh()
        let problem = RandomProblem(Self.cases[0].0, using: &generator)
        let first = try problem.runCPU(mode: .splitKV, multiprocessors: 132)
        let second = try problem.runCPU(mode: .splitKV, multiprocessors: 132)
        #expect(first.out.map(\.bitPattern) == second.out.map(\.bitPattern), "seed \(generator.seed)")
        #expect(first.lse.map(\.bitPattern) == second.lse.map(\.bitPattern), "seed \(generator.seed)")
    }

    @Test("merging partials over disjoint ranges gives the whole range's attention")
    func mergeOfPartials() {
        // Two partials of one row: lse 1 with out [1, 0], lse log(3) with out [0, 1];
        // total weight e + 3, so lse = log(e + 3) and out = [e, 3] / (e + 3).
        let e = exp(Float(1))
        let first: [Float] = [1, 0], second: [Float] = [0, 1]
        var merged = [Float](repeating: .nan, count: 2)
        let lse = first.withUnsafeBufferPointer { a in
            second.withUnsafeBufferPointer { b in
                merged.withUnsafeMutableBufferPointer { destination in
                    SplitMerge.merge(lses: [1, log(Float(3))], outs: [a.baseAddress!, b.baseAddress!],
                                     width: 2, into: destination.baseAddress!)
                }
            }
        }
        #expect(abs(lse - log(e + 3)) < 1e-6)
        #expect(abs(merged[0] - e / (e + 3)) < 1e-6 && abs(merged[1] - 3 / (e + 3)) < 1e-6)

        // A partial that saw no key (−∞, its row full of NaN here) is skipped, never multiplied.
        let nanRow: [Float] = [.nan, .nan]
        let skipped = first.withUnsafeBufferPointer { a in
            nanRow.withUnsafeBufferPointer { b in
                merged.withUnsafeMutableBufferPointer { destination in
                    SplitMerge.merge(lses: [1, -.infinity], outs: [a.baseAddress!, b.baseAddress!], width: 2,
                                     into: destination.baseAddress!)
                }
            }
        }
        #expect(skipped == 1 && merged == [1, 0])
        #expect(SplitMerge.logSumExp([-.infinity, -.infinity]) == -.infinity)
        #expect(SplitMerge.reportedLSE(-.infinity) == .infinity)
    }
}
