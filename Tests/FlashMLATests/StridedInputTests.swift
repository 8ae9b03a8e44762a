// Tests of strided inputs against contiguous ones.
import Testing
import FlashMLATesting
@testable import FlashMLA

/// `q`, `kCache` and `blockTable` may be strided (with a unit innermost stride): the results
/// are those of the contiguous tensors.
@Suite struct StridedInputTests {
    /// A copy of the host tensor `source` laid out with `strides`, in a new backing tensor.
    private func relaid(_ source: Tensor, strides: [Int]) -> (backing: Tensor, view: TensorView) {
        let span = zip(source.shape, strides).reduce(1) { $0 + ($1.0 - 1) * $1.1 }
        let backing = Tensor(hostElementType: source.elementType, shape: [span])
        if source.elementType != .int32 { HostElements(backing).fill(.nan) }
        let view = TensorView(elementType: source.elementType, shape: source.shape, strides: strides,
                              storage: backing.view.storage)
        HostElements(view).store(HostElements(source).load())
        return (backing, view)
    }

    /// Row-major strides with `extra` elements of padding after every row of every dimension.
    private func paddedStrides(_ shape: [Int], extra: Int) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() {
            strides[axis] = strides[axis + 1] * shape[axis + 1] + extra
        }
        return strides
    }

    @Test("padded q and blockTable, head-major kCache", arguments: [ElementType.bfloat16, .float16])
    func stridedMatchesContiguous(type: ElementType) throws {
        var generator = SeededGenerator.fresh()
        let spec = ProblemConfig(cacheSeqlens: [130, 0, 64, 7], queryLength: 2, queryHeads: 4, kvHeads: 2, causal: true,
                               elementType: type)
        let problem = RandomProblem(spec, using: &generator)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 5)
        let metadata = try problem.metadata(multiprocessors: 5)

        let q = relaid(problem.q, strides: paddedStrides(problem.q.shape, extra: 3))
        let table = relaid(problem.blockTable, strides: paddedStrides(problem.blockTable.shape, extra: 2))
        // The cache stored as [numPages, h_kv, 64, 576], viewed as [numPages, 64, h_kv, 576].
        let pages = problem.numPages
        let cache = relaid(problem.kCache, strides: [spec.kvHeads * 64 * 576, 576, 64 * 576, 1])
        #expect(!q.view.isContiguous && !table.view.isContiguous && !cache.view.isContiguous)

        func run(q: TensorView, kCache: TensorView, blockTable: TensorView) throws -> [UInt32] {
            let (out, lse) = problem.poisonedOutputs()
            try engine.flashMLAWithKVCache(q: q, kCache: kCache, blockTable: blockTable,
                                           cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, metadata: metadata,
                                           causal: true, out: out.view, lse: lse.view)
            return rawBits(out.view) + rawBits(lse.view)
        }
        let contiguous = try run(q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view)
        let strided = try run(q: q.view, kCache: cache.view, blockTable: table.view)
        #expect(strided == contiguous, "\(spec), \(pages) pages, seed \(generator.seed)")
        withExtendedLifetime([q.backing, table.backing, cache.backing]) {}
    }
}
