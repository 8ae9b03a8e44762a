// Tests of a sparse bench row and a sparse check case run on the CPU backend, and that their checks catch wrong results.
import FlashMLA
import FlashMLATesting
import Foundation
import Testing
@testable import FlashMLACLI

/// A tiny sparse configuration through `bench`'s and `check`'s code on the CPU backend: it runs
/// clean, and the checks each command makes would catch a kernel that read the wrong slots or
/// wrote wrong rows.
@Suite struct SparseRunTests {
    static let config = BenchConfig(b: 3, sQ: 2, meanSk: 200, hQ: 16, cacheSeqlens: [200, 40, 130], topk: 64,
                                    topkLength: .each([64, 0, 50]), kvFormat: .fp8DS)

    @Test(arguments: [KVFormatChoice.native, .fp8DS])
    func benchRowRunsCleanAndCountsDistinctTokens(format: KVFormatChoice) throws {
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 7)
        let operands = try SparseBenchOperands(config: Self.config, cacheSeqlens: [200, 40, 130], elementType: .bfloat16,
                                               seed: 3, engine: engine, pageSize: 64, kvFormat: format)
        let call = try operands.call(engine: engine)
        try call.run()
        #expect(try call.warnings().isEmpty, "no NaN: the decode read only slots a counted entry reaches")
        // Request 1 counts no entry; request 0 two lists of 64 of its 200 tokens, request 2 two of 50 of its 130.
        #expect(operands.figures.attendedEntries == 2 * (64 + 0 + 50))
        #expect(operands.figures.uniqueTokens > 64 && operands.figures.uniqueTokens <= 128 + 100)
        #expect(operands.figures.tokenBytes == (format == .fp8DS ? 656 : 1152))
        let lse = HostElements(operands.lse)
        for head in 0..<16 { #expect(lse[offset: lse.offset([1, head, 0])] == .infinity) }

        // A NaN in a slot the lists reach shows in the warnings: the check can fail.
        let reached = Int(HostElements(operands.indices).int32(offset: 0))
        let bytes = operands.kCache.view.hostPointer!.assumingMemoryBound(to: UInt8.self)
        let tokenBytes = operands.figures.tokenBytes
        (bytes + reached * tokenBytes).update(repeating: 0xFF, count: tokenBytes)
        try call.run()
        #expect(try call.warnings().contains { $0.hasSuffix("NaN value(s) in out") })
    }

    @Test func benchCommandRunsASparseGridOnTheCPU() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-sparse-run-\(UUID().uuidString).json")
        try Data(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 100, "h_q": 16, "topk": 32, "kv_format": "fp8-ds"}]}"#.utf8).write(to: url)
        let command = try BenchCommand.parse(["--backend", "cpu", "--grid", url.path, "--iterations", "1", "--json"])
        let plan = try command.plan()
        #expect(plan.entries.count == 1 && plan.entries[0].config.topk == 32)
        try command.run()
    }

    @Test(arguments: [KVFormatChoice.native, .fp8DS])
    func checkCasePassesOnTheCPUAndItsComparisonCatchesWrongRows(format: KVFormatChoice) throws {
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 5)
        let runner = CaseRunner(engine: engine, sampleRows: 1000)
        let shape = SparseProblemConfig(cacheSeqlens: [200, 40, 130], queryLength: 2, queryHeads: 16, topk: 64,
                                        topkLength: [64, 0, 50], invalidFraction: 0.1, elementType: .bfloat16, pageSize: 61,
                                        kvFormat: format)
        let outcome = try runner.run(shape, seed: 4)
        #expect(outcome.passed, "\(outcome.summary)")

        // The same comparison on outputs of another draw of the lists fails.
        let problem = SparseProblem(shape, seed: 4), other = SparseProblem(shape, seed: 5)
        let sparse = SparseIndices(indices: other.indices.view, topkLength: other.topkLength?.view)
        let (out, lse) = try engine.flashMLAWithKVCache(q: problem.q.view, kCache: other.kCache.view, indices: sparse,
                                                        headDimV: 512, schedule: MLASchedule(),
                                                        softmaxScale: Float(CaseRunner.softmaxScale), kvFormat: other.kvFormat)
        #expect(!runner.compare(problem, out: out, lse: lse).passes)
        // And a finite lse where a row sees no key (request 1 counts no entry) fails too.
        let (right, rightLSE) = try engine.flashMLAWithKVCache(
            q: problem.q.view, kCache: problem.kCache.view,
            indices: SparseIndices(indices: problem.indices.view, topkLength: problem.topkLength?.view), headDimV: 512,
            schedule: MLASchedule(), softmaxScale: Float(CaseRunner.softmaxScale), kvFormat: problem.kvFormat)
        #expect(runner.compare(problem, out: right, lse: rightLSE).passes)
        let lses = HostElements(rightLSE)
        lses[offset: lses.offset([1, 0, 0])] = 0
        let broken = runner.compare(problem, out: right, lse: rightLSE)
        #expect(!broken.passes && broken.infinityMismatches >= 1)
    }

    @Test func checkGridRunsSparseRowsAsSparseCases() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-sparse-check-\(UUID().uuidString).json")
        try Data(#"{"configs": [{"b": 2, "s_q": 2, "mean_sk": 90, "h_q": 8, "topk": 40, "topk_length": 30}, {"b": 1, "s_q": 1, "mean_sk": 70, "h_q": 8}]}"#.utf8)
            .write(to: url)
        let command = try CheckCommand.parse(["--backend", "cpu", "--grid", url.path, "--dtype", "bf16", "--page-size", "16"])
        let cases = try #require(try command.gridPlan())
        guard case let .sparse(shape) = cases[0], case .dense = cases[1] else {
            Issue.record("cases \(cases)")
            return
        }
        #expect(shape.topk == 40 && shape.topkLength == [30, 30] && shape.pageSize == 16 && shape.kvFormat == .native)
        try command.run()
    }
}
