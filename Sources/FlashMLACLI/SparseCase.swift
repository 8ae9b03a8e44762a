import FlashMLA

/// The sizes of one random `check-sparse` case.
struct SparseCaseSpec: CustomStringConvertible {
    var batch: Int, queryLength: Int, heads: Int, topk: Int, pages: Int, pageSize: Int
    var elementType: ElementType
    var fp8: Bool, sink: Bool, topkLength: Bool, dense: Bool

    var description: String {
        dense ? "dense b=\(batch) s_q=\(queryLength) h_q=\(heads) pages=\(pages)x\(pageSize) \(elementType) sink"
              : "sparse b=\(batch) s_q=\(queryLength) h_q=\(heads) topk=\(topk) cache=\(pages)x\(pageSize) \(elementType)"
                + (fp8 ? " fp8-ds" : "") + (sink ? " sink" : "") + (topkLength ? " topkLength" : "")
    }
}

/// A small seeded generator (SplitMix64) for the CLI's random cases.
struct SparseCaseGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func spec(heads: String, maxTopk: Int) -> SparseCaseSpec {
        let h = Int(heads) ?? [64, 128, 128, 16, 24, 100].randomElement(using: &self)!
        let fp8 = Bool.random(using: &self)
        return SparseCaseSpec(batch: Int.random(in: 1 ... 6, using: &self), queryLength: Int.random(in: 1 ... 2, using: &self),
                              heads: h, topk: Int.random(in: 1 ... max(1, maxTopk), using: &self),
                              pages: Int.random(in: 2 ... 40, using: &self), pageSize: [64, 64, 1, 61, 256].randomElement(using: &self)!,
                              elementType: fp8 || Bool.random(using: &self) ? .bfloat16 : .float16,
                              fp8: fp8, sink: Bool.random(using: &self), topkLength: Bool.random(using: &self),
                              dense: Int.random(in: 0 ..< 6, using: &self) == 0)
    }
}

/// One random case's host tensors and its comparison.
struct SparseCase {
    let spec: SparseCaseSpec
    let q: Tensor, cache: Tensor, indices: Tensor, lengths: Tensor?, sink: Tensor?
    let blockTable: Tensor, seqlens: Tensor

    init(_ spec: SparseCaseSpec, generator: inout SparseCaseGenerator) throws {
        self.spec = spec
        let slots = spec.pages * spec.pageSize, dim = 576
        let values = (0 ..< slots * dim).map { _ in Float.random(in: -1 ... 1, using: &generator) }
        let native = Tensor(values, as: spec.elementType, shape: [spec.pages, spec.pageSize, 1, dim])
        cache = spec.fp8 ? try FP8Quantizer.quantize(native.view, format: .fp8DeepSeek) : native
        q = Tensor((0 ..< spec.batch * spec.queryLength * spec.heads * dim).map { _ in Float.random(in: -2 ... 2, using: &generator) },
                   as: spec.elementType, shape: [spec.batch, spec.queryLength, spec.heads, dim])
        let emptyRequest = spec.batch > 1 ? Int.random(in: 0 ..< spec.batch, using: &generator) : -1
        var entries = [Int32]()
        for request in 0 ..< spec.batch {
            for _ in 0 ..< spec.queryLength * spec.topk {
                let hole = request == emptyRequest || Int.random(in: 0 ..< 8, using: &generator) == 0
                entries.append(hole ? -1 : Int32(Int.random(in: 0 ..< slots, using: &generator)))
            }
        }
        indices = Tensor(entries, shape: [spec.batch, spec.queryLength, spec.topk])
        lengths = spec.topkLength
            ? Tensor((0 ..< spec.batch).map { _ in Int32([0, spec.topk, Int.random(in: 0 ... spec.topk, using: &generator)].randomElement(using: &generator)!) },
                     shape: [spec.batch])
            : nil
        sink = spec.sink || spec.dense
            ? Tensor((0 ..< spec.heads).map { h in h % 5 == 0 ? .infinity : h % 5 == 1 ? -.infinity : Float.random(in: -4 ... 8, using: &generator) },
                     as: .float32, shape: [spec.heads])
            : nil
        // Dense cases: each request's pages in order, lengths up to the cache.
        let pagesPerRequest = max(1, spec.pages / spec.batch)
        blockTable = Tensor((0 ..< spec.batch * pagesPerRequest).map { Int32($0) }, shape: [spec.batch, pagesPerRequest])
        seqlens = Tensor((0 ..< spec.batch).map { _ in Int32(Int.random(in: 0 ... pagesPerRequest * spec.pageSize, using: &generator)) },
                         shape: [spec.batch])
    }

    /// The problems found running the case on `engine` against `reference` (the CPU backend).
    func check(on engine: MLAEngine, against reference: MLAEngine) throws -> [String] {
        let expected = try run(on: reference)
        let (out, lse, errors, repeatOut) = try runTwice(on: engine)
        var problems = errors.map { "kernel error flag: \($0)" }
        if out.contains(where: { !$0.isFinite }) { problems.append("out has NaN or ∞") }
        var outliers = 0, firstOutlier = ""
        for (index, (value, wanted)) in zip(out, expected.out).enumerated()
        where !(abs(value - wanted) <= abs(wanted) / 128 + 1e-3) {
            if outliers == 0 { firstOutlier = "at \(index): \(value) vs \(wanted)" }
            outliers += 1
        }
        if outliers > 0 { problems.append("\(outliers) outputs off, first \(firstOutlier)") }
        for (index, (value, wanted)) in zip(lse, expected.lse).enumerated() {
            let ok = wanted == .infinity ? value == .infinity : abs(value - wanted) < 1e-3
            if !ok { problems.append("lse[\(index)] \(value) vs \(wanted)"); break }
        }
        if repeatOut != out { problems.append("the second call with the filled schedule differs") }
        return problems
    }

    private func run(on engine: MLAEngine) throws -> (out: [Float], lse: [Float]) {
        let result = try call(engine, schedule: MLASchedule(), upload: { $0 })
        return (HostElements(result.out.view).load(), HostElements(result.lse.view).load())
    }

    private func runTwice(on engine: MLAEngine) throws -> (out: [Float], lse: [Float], errors: [String], repeatOut: [Float]) {
        guard let cuda = engine.cudaBackend else {
            let first = try run(on: engine)
            return (first.out, first.lse, [], try run(on: engine).out)
        }
        var kept: [Tensor] = []
        let upload = { (tensor: Tensor) throws(MLAError) -> Tensor in
            let device = try cuda.upload(tensor.view)
            kept.append(device)
            return device
        }
        let schedule = MLASchedule()
        let first = try call(engine, schedule: schedule, upload: upload)
        let second = try call(engine, schedule: schedule, upload: upload)
        let out = HostElements(try cuda.download(first.out.view).view).load()
        let lse = HostElements(try cuda.download(first.lse.view).view).load()
        let again = HostElements(try cuda.download(second.out.view).view).load()
        withExtendedLifetime(kept) {}
        return (out, lse, try cuda.workspace.takeErrors(), again)
    }

    private func call(_ engine: MLAEngine, schedule: MLASchedule,
                      upload: (Tensor) throws(MLAError) -> Tensor) throws(MLAError) -> (out: Tensor, lse: Tensor) {
        let q = try upload(self.q), cache = try upload(self.cache)
        let sink = try self.sink.map { (t: Tensor) throws(MLAError) in try upload(t) }
        let result: (out: Tensor, lse: Tensor)
        if spec.dense {
            let table = try upload(blockTable), lengths = try upload(seqlens)
            result = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, blockTable: table.view, cacheSeqlens: lengths.view,
                                                    headDimV: 512, schedule: schedule, softmaxScale: 0.05,
                                                    kvFormat: spec.fp8 ? .fp8DeepSeek : .native, attnSink: sink?.view)
            withExtendedLifetime((table, lengths)) {}
        } else {
            let indices = try upload(self.indices)
            let lengths = try self.lengths.map { (t: Tensor) throws(MLAError) in try upload(t) }
            result = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view,
                                                    indices: SparseIndices(indices: indices.view, topkLength: lengths?.view),
                                                    headDimV: 512, schedule: schedule, softmaxScale: 0.05,
                                                    kvFormat: spec.fp8 ? .fp8DeepSeek : .native, attnSink: sink?.view)
            withExtendedLifetime((indices, lengths)) {}
        }
        withExtendedLifetime((q, cache, sink)) {}
        return result
    }
}
