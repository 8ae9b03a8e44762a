// Tests of the CPU backend against the Float64 reference.
import Testing
import FlashMLATesting
@testable import FlashMLA

/// The CPU backend, both modes, against an independent Float64 attention on fresh random inputs.
@Suite struct CPUBackendReferenceTests {
    /// Fixed shapes covering grouping, causal masks, rows without keys and lengths around page edges.
    static let cases: [ProblemConfig] = [
        ProblemConfig(cacheSeqlens: [1, 63, 64, 65, 200], queryLength: 1, queryHeads: 1, kvHeads: 1, causal: false,
                    elementType: .bfloat16),
        ProblemConfig(cacheSeqlens: [200, 65, 1, 64, 63], queryLength: 2, queryHeads: 2, kvHeads: 1, causal: true,
                    elementType: .float16),
        ProblemConfig(cacheSeqlens: [0, 65, 0, 130], queryLength: 4, queryHeads: 8, kvHeads: 2, causal: true,
                    elementType: .bfloat16),
        ProblemConfig(cacheSeqlens: [2, 200, 64], queryLength: 3, queryHeads: 3, kvHeads: 1, causal: true,
                    elementType: .float16),
        ProblemConfig(cacheSeqlens: [0], queryLength: 1, queryHeads: 16, kvHeads: 2, causal: false,
                    elementType: .bfloat16),
        ProblemConfig(cacheSeqlens: [100, 1], queryLength: 4, queryHeads: 16, kvHeads: 1, causal: true,
                    elementType: .bfloat16),
        ProblemConfig(cacheSeqlens: [65, 129], queryLength: 2, queryHeads: 16, kvHeads: 2, causal: false,
                    elementType: .float16),
        ProblemConfig(cacheSeqlens: [200, 0, 3], queryLength: 4, queryHeads: 2, kvHeads: 2, causal: false,
                    elementType: .bfloat16),
    ]

    @Test("matches the Float64 reference", arguments: cases)
    func matchesReference(spec: ProblemConfig) throws {
        var generator = SeededGenerator.fresh()
        try check(spec, multiprocessors: 7, softmaxScale: nil, using: &generator)
    }

    @Test("matches the reference on random shapes", arguments: 0 ..< 10)
    func matchesReferenceOnRandomShapes(round: Int) throws {
        var generator = SeededGenerator.fresh()
        let (queryHeads, kvHeads) = [(1, 1), (2, 1), (3, 1), (8, 2), (16, 1), (16, 2), (6, 2), (4, 4)]
            .randomElement(using: &generator)!
        let spec = ProblemConfig(
            cacheSeqlens: (0 ..< Int.random(in: 1 ... 3, using: &generator)).map { _ in
                [0, 1, 63, 64, 65, 127, 200, Int32.random(in: 0 ... 260, using: &generator)].randomElement(using: &generator)!
            },
            queryLength: Int.random(in: 1 ... 4, using: &generator), queryHeads: queryHeads, kvHeads: kvHeads,
            causal: Bool.random(using: &generator),
            elementType: Bool.random(using: &generator) ? .bfloat16 : .float16)
        try check(spec, multiprocessors: [3, 7, 132].randomElement(using: &generator)!,
                  softmaxScale: Bool.random(using: &generator) ? nil : Float.random(in: 0.01 ... 0.2, using: &generator),
                  using: &generator)
    }

    @Test("the engine's allocating call returns the reference's results")
    func engineCall() throws {
        var generator = SeededGenerator.fresh()
        let spec = ProblemConfig(cacheSeqlens: [130, 7], queryLength: 2, queryHeads: 4, kvHeads: 1, causal: true,
                               elementType: .bfloat16)
        let problem = RandomProblem(spec, using: &generator)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 5)
        let metadata = try engine.getMLAMetadata(cacheSeqlens: problem.cacheSeqlens.view, rowsPerKVHead: 8,
                                                 kvHeads: 1)
        let (out, lse) = try engine.flashMLAWithKVCache(
            q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
            cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, metadata: metadata, causal: true)
        #expect(out.shape == [2, 2, 4, 512] && out.elementType == .bfloat16)
        #expect(lse.shape == [2, 4, 2] && lse.elementType == .float32)
        AttentionCheck.expectMatches(out: HostElements(out).load(), lse: HostElements(lse).load(),
                                     reference: ReferenceAttention(problem: problem, softmaxScale: 1.0 / 24).allRows(),
                                     problem: problem, context: "\(spec), seed \(generator.seed)")
    }

    private func check(_ spec: ProblemConfig, multiprocessors: Int, softmaxScale: Float?,
                       using generator: inout SeededGenerator) throws {
        let problem = RandomProblem(spec, using: &generator)
        let scale = softmaxScale.map(Double.init) ?? 1.0 / 24
        let reference = ReferenceAttention(problem: problem, softmaxScale: scale).allRows()
        for mode in [CPUBackend.Mode.direct, .splitKV] {
            let result = try problem.runCPU(mode: mode, multiprocessors: multiprocessors, softmaxScale: softmaxScale)
            AttentionCheck.expectMatches(
                out: result.out, lse: result.lse, reference: reference, problem: problem,
                context: "\(mode), \(spec), scale \(scale), \(multiprocessors) multiprocessors, seed \(generator.seed)")
        }
    }
}
