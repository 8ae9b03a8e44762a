// One random check-sparse case in FlashMLA HEAD's MODEL1 format (with an extra cache), checked against the Float64 reference.
import Dispatch
import Foundation
import FlashMLA
import FlashMLATesting

/// A random `check-sparse --format model1` case: a ``SparseProblem`` in the MODEL1 layout (each
/// request's tokens on shuffled pages, NaN in every slot no counted entry reaches, `−1` holes,
/// partial and zero `topk_length`), optionally with an extra cache of its own page size and
/// `extra_topk_length`, and a sink; run on an engine and compared with the Float64 reference
/// (``SparseProblem/referenceRow(request:qi:head:softmaxScale:)``, the sink applied to it).
struct Model1Case {
    let problem: SparseProblem
    let sink: [Float]?

    /// The largest magnitude of a cached value: ``InputRandom/normalish()`` draws within ±3.47,
    /// and a MODEL1 code rounds it by at most 1/16 of itself.
    static let valueBound: Float = 3.7

    /// Draws the case of `spec` (its batch, s_q, heads, topk, page size, type, sink and
    /// topk_length choices) with `extraTopk` extra entries (0: no extra cache) on pages of
    /// `extraPageSize`.
    init(_ spec: SparseCaseSpec, extraTopk: Int, extraPageSize: Int, generator: inout SparseCaseGenerator) {
        let lengths = (0 ..< spec.batch).map { _ in Int32(Int.random(in: 1 ... 2 * spec.topk, using: &generator)) }
        func counts(_ topk: Int) -> [Int32]? {
            spec.topkLength ? (0 ..< spec.batch).map { _ in
                Int32([0, topk, Int.random(in: 0 ... topk, using: &generator)].randomElement(using: &generator)!)
            } : nil
        }
        let config = SparseProblemConfig(cacheSeqlens: lengths, queryLength: spec.queryLength, queryHeads: spec.heads,
                                          topk: spec.topk, topkLength: counts(spec.topk), invalidFraction: 0.1,
                                          elementType: spec.elementType, pageSize: spec.pageSize, kvFormat: .model1,
                                          extraTopk: extraTopk, extraTopkLength: extraTopk > 0 ? counts(extraTopk) : nil,
                                          extraPageSize: extraPageSize)
        problem = SparseProblem(config, seed: generator.next())
        sink = spec.sink ? (0 ..< spec.heads).map { h in
            h % 5 == 0 ? .infinity : h % 5 == 1 ? -.infinity : Float.random(in: -4 ... 8, using: &generator)
        } : nil
    }

    /// The problems found running the case on `engine`: each output within two roundings of the input
    /// type of the reference, 2u·(|v|max + |ref|) (u = 2⁻⁸ bf16, 2⁻¹¹ fp16; the portable kernel rounds
    /// P before P·V and the output once, check-sparse's bound for values up to ``valueBound``), cos-diff
    /// < 1e-5 over the whole output, lse within 1e-3 and `+∞` with a zero row exactly where no key is
    /// seen, no NaN, no kernel error flag, and a second call with the filled schedule bit for bit the first.
    /// `softmaxScale` (default: MODEL1's `1/√512`, the reference's) is for testing that a wrong result fails.
    func check(on engine: MLAEngine, softmaxScale: Float? = nil) throws -> [String] {
        let config = problem.config, memory = EngineMemory(engine)
        let placed = try [problem.q, problem.kCache, problem.indices, problem.topkLength, problem.extraKCache,
                          problem.extraIndices, problem.extraTopkLength].map { try $0.map { try memory.place($0) } }
        let sinkTensor = try sink.map { try memory.place(Tensor($0, as: .float32, shape: [config.queryHeads])) }
        let sparse = SparseIndices(indices: placed[2]!.view, topkLength: placed[3]?.view, extraKCache: placed[4]?.view,
                                   extraIndices: placed[5]?.view, extraTopkLength: placed[6]?.view)
        let schedule = MLASchedule()
        func run() throws -> (out: [Float], lse: [Float]) {
            let (out, lse) = try engine.flashMLAWithKVCache(q: placed[0]!.view, kCache: placed[1]!.view, indices: sparse,
                                                            headDimV: DecodeProblem.headDimV, schedule: schedule,
                                                            softmaxScale: softmaxScale, kvFormat: .fp8Model1,
                                                            attnSink: sinkTensor?.view)
            guard let cuda = engine.cudaBackend else { return (HostElements(out).load(), HostElements(lse).load()) }
            return (HostElements(try cuda.download(out.view)).load(), HostElements(try cuda.download(lse.view)).load())
        }
        let (out, lse) = try run()
        var problems = try engine.cudaBackend?.workspace.takeErrors().map { "kernel error flag: \($0)" } ?? []
        if !(try run().out).elementsEqual(out, by: { $0.bitPattern == $1.bitPattern }) {
            problems.append("the second call with the filled schedule differs")
        }
        withExtendedLifetime((placed, sinkTensor)) {}
        return problems + compare(out: out, lse: lse)
    }

    /// Every row against the Float64 reference (rows computed in parallel).
    private func compare(out: [Float], lse: [Float]) -> [String] {
        let config = problem.config, (b, sQ, hQ) = (config.batchSize, config.queryLength, config.queryHeads)
        let scale = 1 / Double(config.queryHeadDim).squareRoot(), sink = self.sink, problem = self.problem
        let rows = ResultSlots<(out: [Double], lse: Double)>(count: b * sQ * hQ)
        DispatchQueue.concurrentPerform(iterations: b * sQ * hQ) { index in
            let (i, j, h) = (index / (sQ * hQ), index / hQ % sQ, index % hQ)
            var (row, rowLSE) = problem.referenceRow(request: i, qi: j, head: h, softmaxScale: scale)
            if let sink, rowLSE < .infinity {
                let factor = 1 / (1 + Foundation.exp(Double(sink[h]) - rowLSE))
                row = row.map { $0 * factor }
            }
            rows[index] = (row, rowLSE)
        }
        let unit: Double = config.elementType == .bfloat16 ? 0x1p-8 : 0x1p-11
        var problems: [String] = [], outliers = 0, lseOff = 0, first = ""
        var dot = 0.0, squares = 0.0
        if out.contains(where: { !$0.isFinite }) { problems.append("out has NaN or ∞") }
        for index in 0 ..< b * sQ * hQ {
            let (i, j, h) = (index / (sQ * hQ), index / hQ % sQ, index % hQ)
            let reference = rows[index], base = index * DecodeProblem.headDimV
            let got = lse[(i * hQ + h) * sQ + j]
            let lseOK = reference.lse == .infinity ? got == .infinity : abs(Double(got) - reference.lse) < 1e-3
            if !lseOK {
                if lseOff == 0 { first = "lse b \(i) qi \(j) head \(h): \(got) vs \(reference.lse)" }
                lseOff += 1
            }
            for column in 0 ..< DecodeProblem.headDimV {
                let value = Double(out[base + column]), wanted = reference.out[column]
                dot += value * wanted
                squares += value * value + wanted * wanted
                if !(abs(value - wanted) <= 2 * unit * (Double(Self.valueBound) + abs(wanted))) {
                    if outliers == 0 && lseOff == 0 { first = "out b \(i) qi \(j) head \(h) col \(column): \(value) vs \(wanted)" }
                    outliers += 1
                }
            }
        }
        let cosDiff = squares > 0 ? 1 - 2 * dot / squares : 0
        if !(cosDiff < 1e-5) { problems.append("out cos-diff \(cosDiff) ≥ 1e-5") }
        if outliers > 0 || lseOff > 0 { problems.append("\(outliers) outputs and \(lseOff) lse off, first \(first)") }
        return problems
    }
}
