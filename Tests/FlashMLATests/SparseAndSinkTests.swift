// Tests of sparse decoding and the attention sink on the CPU backend.
import Foundation
import Testing
import FlashMLATesting
@testable import FlashMLA

/// The attention sink and sparse decoding on the CPU backend, against a direct Float64
/// computation written from FlashMLA's reference (`tests/ref.py`): gather, softmax, sum, then
/// `out *= 1 / (1 + exp(sink − lse))`; rows without a key: out 0, lse +∞.
@Suite struct SparseAndSinkTests {
    /// Float64 sparse attention with an optional sink over host values: `cache` `[slots, 576]`,
    /// `q` `[b, s_q, h_q, 576]`, `indices` `[b][s_q][topk]`.
    static func reference(q: [Float], cache: [Float], indices: [[[Int32]]], lengths: [Int], heads: Int,
                          scale: Double, sink: [Float]?) -> (out: [Double], lse: [Double]) {
        let b = indices.count, sQ = indices[0].count, dim = 576, valueDim = 512
        var out = [Double](repeating: 0, count: b * sQ * heads * valueDim)
        var lse = [Double](repeating: .infinity, count: b * heads * sQ)
        for i in 0 ..< b {
            for j in 0 ..< sQ {
                let slots = indices[i][j].prefix(lengths[i]).filter { $0 >= 0 }.map(Int.init)
                guard !slots.isEmpty else { continue }
                for h in 0 ..< heads {
                    let qBase = ((i * sQ + j) * heads + h) * dim
                    let scores = slots.map { slot in
                        scale * (0 ..< dim).reduce(0.0) { $0 + Double(q[qBase + $1]) * Double(cache[slot * dim + $1]) }
                    }
                    let largest = scores.max()!
                    let total = scores.reduce(0.0) { $0 + exp($1 - largest) }
                    let rowLSE = largest + log(total)
                    let factor = sink.map { 1 / (1 + exp(Double($0[h]) - rowLSE)) } ?? 1
                    let oBase = ((i * sQ + j) * heads + h) * valueDim
                    for (slot, score) in zip(slots, scores) {
                        let p = exp(score - rowLSE) * factor
                        for d in 0 ..< valueDim { out[oBase + d] += p * Double(cache[slot * dim + d]) }
                    }
                    lse[(i * heads + h) * sQ + j] = rowLSE
                }
            }
        }
        return (out, lse)
    }

    /// A random sparse problem in bf16: a cache of `pages` pages of `pageSize` (unused slots NaN),
    /// random lists with −1 holes, the given lengths.
    struct Case {
        var b = 3, sQ = 2, heads = 16, topk = 100, pages = 5, pageSize = 64
        var lengths: [Int]? = nil
        var allInvalidRequest: Int? = nil
        var sink = false
    }

    static func run(_ spec: Case, schedule: Bool, multiprocessors: Int = 7) throws {
        var generator = SeededGenerator.fresh()
        let slots = spec.pages * spec.pageSize, dim = 576
        var indices = (0 ..< spec.b).map { _ in (0 ..< spec.sQ).map { _ in
            (0 ..< spec.topk).map { _ in Int.random(in: 0 ..< 10, using: &generator) == 0 ? Int32(-1) : Int32(Int.random(in: 0 ..< slots, using: &generator)) }
        } }
        if let request = spec.allInvalidRequest { indices[request] = indices[request].map { $0.map { _ in -1 } } }
        let lengths = spec.lengths ?? Array(repeating: spec.topk, count: spec.b)
        var used = Set<Int>()
        for i in 0 ..< spec.b { for row in indices[i] { for slot in row.prefix(lengths[i]) where slot >= 0 { used.insert(Int(slot)) } } }
        let round = { (x: Float) in BFloat16(x).floatValue }
        var cache = [Float](repeating: .nan, count: slots * dim)
        for slot in used { for d in 0 ..< dim { cache[slot * dim + d] = round(Float.random(in: -1 ... 1, using: &generator)) } }
        let q = (0 ..< spec.b * spec.sQ * spec.heads * dim).map { _ in round(Float.random(in: -2 ... 2, using: &generator)) }
        let sinkValues: [Float]? = spec.sink ? (0 ..< spec.heads).map { h in
            h % 4 == 0 ? .infinity : h % 4 == 1 ? -.infinity : Float.random(in: -3 ... 6, using: &generator)
        } : nil

        let qTensor = Tensor(q, as: .bfloat16, shape: [spec.b, spec.sQ, spec.heads, dim])
        let cacheTensor = Tensor(cache, as: .bfloat16, shape: [spec.pages, spec.pageSize, 1, dim])
        let indexTensor = Tensor(indices.flatMap { $0.flatMap { $0 } }, shape: [spec.b, spec.sQ, spec.topk])
        let lengthTensor = spec.lengths.map { Tensor($0.map(Int32.init), shape: [spec.b]) }
        let sinkTensor = sinkValues.map { Tensor($0, as: .float32, shape: [spec.heads]) }
        let sparse = SparseIndices(indices: indexTensor.view, topkLength: lengthTensor?.view)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: multiprocessors)
        let out: Tensor, lse: Tensor
        if schedule {
            (out, lse) = try engine.flashMLAWithKVCache(q: qTensor.view, kCache: cacheTensor.view, indices: sparse, headDimV: 512,
                                                        schedule: MLASchedule(), softmaxScale: 0.05, attnSink: sinkTensor?.view)
        } else {
            let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: spec.sQ * spec.heads)
            out = Tensor(hostElementType: .bfloat16, shape: [spec.b, spec.sQ, spec.heads, 512])
            lse = Tensor(hostElementType: .float32, shape: [spec.b, spec.heads, spec.sQ])
            HostElements(out).fill(.nan)
            HostElements(lse).fill(.nan)
            try engine.flashMLAWithKVCache(q: qTensor.view, kCache: cacheTensor.view, indices: sparse, headDimV: 512,
                                           metadata: metadata, softmaxScale: 0.05, attnSink: sinkTensor?.view,
                                           out: out.view, lse: lse.view)
        }
        withExtendedLifetime((qTensor, cacheTensor, indexTensor, lengthTensor, sinkTensor)) {}
        let reference = Self.reference(q: q, cache: cache, indices: indices, lengths: lengths, heads: spec.heads,
                                       scale: 0.05, sink: sinkValues)
        let outValues = HostElements(out).load(), lseValues = HostElements(lse).load()
        #expect(!outValues.contains { !$0.isFinite }, "out has NaN or ∞")
        for (index, expected) in reference.lse.enumerated() {
            if expected == .infinity {
                #expect(lseValues[index] == .infinity, "lse[\(index)] \(lseValues[index]) for a row with no key")
            } else {
                #expect(abs(Double(lseValues[index]) - expected) < 1e-3, "lse[\(index)] \(lseValues[index]) vs \(expected)")
            }
        }
        let outliers = Comparison.outliers(outValues.map(Double.init), reference.out, relative: 1.0 / 128, absolute: 1e-5)
        #expect(outliers.isEmpty, "\(outliers.count) outputs off, first \(outliers.first.map { "\(outValues[$0]) vs \(reference.out[$0])" } ?? "")")
    }

    @Test("sparse decode matches the Float64 reference (split-KV schedule, -1 holes, NaN in unused slots)")
    func sparseMatches() throws {
        try Self.run(Case(b: 3, sQ: 2, heads: 16, topk: 200, pages: 4, pageSize: 64), schedule: false, multiprocessors: 11)
        try Self.run(Case(b: 2, sQ: 1, heads: 64, topk: 70, pages: 3, pageSize: 61), schedule: false)
    }

    @Test("topkLength counts only leading entries; a zero length and an all-invalid list give out 0, lse +inf")
    func lengthsAndEmptyRows() throws {
        try Self.run(Case(b: 4, sQ: 2, heads: 8, topk: 130, pages: 4, pageSize: 7, lengths: [130, 0, 65, 1],
                          allInvalidRequest: 3), schedule: false)
    }

    @Test("the attention sink scales rows by 1/(1+exp(sink-lse)): +inf gives 0, -inf leaves them")
    func sinkSparse() throws {
        try Self.run(Case(b: 2, sQ: 2, heads: 8, topk: 90, pages: 3, pageSize: 64, lengths: [90, 0], sink: true),
                     schedule: true)
    }

    @Test("dense decode with an attention sink matches the reference scaled by the sink factor")
    func sinkDense() throws {
        var generator = SeededGenerator.fresh()
        let spec = ProblemConfig(cacheSeqlens: [0, 130, 64], queryLength: 2, queryHeads: 4, kvHeads: 1, causal: true,
                               elementType: .bfloat16)
        let problem = RandomProblem(spec, using: &generator)
        let sinks: [Float] = [.infinity, -.infinity, 0.5, 3]
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 5)
        let sinkTensor = Tensor(sinks, as: .float32, shape: [4])
        let (out, lse) = try withExtendedLifetime(sinkTensor) {
            try engine.flashMLAWithKVCache(
                q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
                cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, schedule: MLASchedule(), causal: true,
                attnSink: sinkTensor.view)
        }
        var reference = ReferenceAttention(problem: problem, softmaxScale: 1.0 / 24).allRows()
        for i in 0 ..< 3 { for j in 0 ..< 2 { for h in 0 ..< 4 {
            let rowLSE = reference.lse[(i * 4 + h) * 2 + j]
            guard rowLSE < .infinity else { continue }
            let factor = 1 / (1 + exp(Double(sinks[h]) - rowLSE))
            for d in 0 ..< 512 { reference.out[((i * 2 + j) * 4 + h) * 512 + d] *= factor }
        } } }
        let outValues = HostElements(out).load()
        AttentionCheck.expectMatches(out: outValues, lse: HostElements(lse).load(), reference: reference,
                                     problem: problem, context: "sink \(sinks)")
        // Head 0 (sink +inf) is all zeros; head 1 (−inf) is not.
        #expect((0 ..< 512).allSatisfy { outValues[((1 * 2 + 1) * 4 + 0) * 512 + $0] == 0 })
        #expect((0 ..< 512).contains { outValues[((1 * 2 + 1) * 4 + 1) * 512 + $0] != 0 })
    }
}
