// The tests' ways of drawing a RandomProblem and running it on the CPU backend.
import FlashMLATesting
@testable import FlashMLA

extension RandomProblem {
    /// The problem of `config` drawn from `generator` (so `FLASHMLA_TEST_SEED` replays it), with one
    /// block-table column of garbage past the longest request.
    convenience init(_ config: ProblemConfig, using generator: inout SeededGenerator) {
        self.init(config, seed: generator.next(), extraColumns: 1)
    }

    /// Metadata from a CPU engine whose schedule counts `multiprocessors` workers.
    func metadata(multiprocessors: Int) throws -> MLAMetadata {
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: multiprocessors)
        return try engine.getMLAMetadata(cacheSeqlens: cacheSeqlens.view, rowsPerKVHead: config.rowsPerKVHead,
                                         kvHeads: config.kvHeads)
    }

    /// Runs the CPU backend in `mode` into fresh poisoned outputs; returns their values.
    func runCPU(mode: CPUBackend.Mode, multiprocessors: Int, softmaxScale: Float? = nil) throws
        -> (out: [Float], lse: [Float], metadata: MLAMetadata) {
        let metadata = try metadata(multiprocessors: multiprocessors)
        let (out, lse) = poisonedOutputs()
        let problem = try DecodeProblem(
            q: q.view, kCache: kCache.view, blockTable: blockTable.view, cacheSeqlens: cacheSeqlens.view,
            headDimV: DecodeProblem.headDimV, metadata: metadata, softmaxScale: softmaxScale, causal: config.causal,
            out: out.view, lse: lse.view, backend: .cpu)
        CPUBackend.decode(problem, mode: mode)
        return (HostElements(out).load(), HostElements(lse).load(), metadata)
    }
}
