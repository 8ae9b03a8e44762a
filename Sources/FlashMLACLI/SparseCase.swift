// One random check-sparse case: its sizes, its seeded generator, its host tensors and the comparison of a backend against the CPU.
import CUDADriver
import FlashMLA

/// The sizes of one random `check-sparse` case.
struct SparseCaseSpec: CustomStringConvertible {
    var batch: Int, queryLength: Int, heads: Int, topk: Int, pages: Int, pageSize: Int
    var elementType: ElementType
    var fp8: Bool, sink: Bool, topkLength: Bool, dense: Bool

    var description: String {
        dense ? "dense b=\(batch) s_q=\(queryLength) h_q=\(heads) pages=\(pages)x\(pageSize) \(elementType)" + (fp8 ? " fp8-ds" : "") + " sink"
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
        // Pages are shared round-robin when there are fewer than batch · pagesPerRequest (every id < pages).
        blockTable = Tensor((0 ..< spec.batch * pagesPerRequest).map { Int32($0 % spec.pages) }, shape: [spec.batch, pagesPerRequest])
        seqlens = Tensor((0 ..< spec.batch).map { _ in Int32(Int.random(in: 0 ... pagesPerRequest * spec.pageSize, using: &generator)) },
                         shape: [spec.batch])
    }

    /// The problems found running the case on `engine` against `reference` (the CPU backend).
    func check(on engine: MLAEngine, against reference: MLAEngine) throws -> [String] {
        let expected = try run(on: reference)
        let result = try runTwice(on: engine)
        let out = result.out, lse = result.lse
        var problems = result.errors.map { "kernel error flag: \($0)" }
        if out.contains(where: { !$0.isFinite }) { problems.append("out has NaN or ∞") }
        // FlashMLA's measure over the whole output: cos-diff < 1e-5.
        var dot = 0.0, squares = 0.0
        for (value, wanted) in zip(out, expected.out) where value.isFinite {
            dot += Double(value) * Double(wanted)
            squares += Double(value) * Double(value) + Double(wanted) * Double(wanted)
        }
        let cosDiff = squares > 0 ? 1 - 2 * dot / squares : 0
        if !(cosDiff < 1e-5) { problems.append("out cos-diff \(cosDiff) ≥ 1e-5") }
        // Each element: the kernels round the probabilities P to the input type before P·V (unit
        // roundoff u: 2⁻⁸ bf16, 2⁻¹¹ fp16) and the output once more. With Σp ≤ 1 and |v| ≤ 1 (the
        // cache's values) that is at most u·(1 + |out|) from exact; the CPU reference rounds
        // differently, so two such errors apart.
        let unit: Float = spec.elementType == .bfloat16 ? 0x1p-8 : 0x1p-11
        var outliers = 0, firstOutlier = ""
        for (index, (value, wanted)) in zip(out, expected.out).enumerated()
        where !(abs(value - wanted) <= 2 * unit * (1 + abs(wanted))) {
            if outliers == 0 { firstOutlier = "at \(outPosition(index)): \(value) vs \(wanted)" }
            outliers += 1
        }
        if outliers > 0 { problems.append("\(outliers) outputs off, first \(firstOutlier)") }
        var lseOff = 0, firstLSE = ""
        for (index, (value, wanted)) in zip(lse, expected.lse).enumerated() {
            let ok = wanted == .infinity ? value == .infinity : abs(value - wanted) < 1e-3
            if !ok {
                if lseOff == 0 { firstLSE = "lse \(lsePosition(index)) \(value) vs \(wanted)" }
                lseOff += 1
            }
        }
        if lseOff > 0 { problems.append("\(lseOff) of \(lse.count) lse off, first \(firstLSE)") }
        if lseOff > 0 || outliers > 0 {
            // Which requests hold the wrong rows: tells a per-request fault (schedule, split) from a per-tile one.
            let perRequest = spec.queryLength * spec.heads
            var bad = [Int](repeating: 0, count: spec.batch)
            for (index, (value, wanted)) in zip(lse, expected.lse).enumerated()
            where !(wanted == .infinity ? value == .infinity : abs(value - wanted) < 1e-3) { bad[index / perRequest] += 1 }
            problems.append("lse rows off per request (of \(perRequest)): \(bad)")
        }
        if !result.repeatOut.elementsEqual(out, by: { $0.bitPattern == $1.bitPattern }) {
            problems.append("the second call with the filled schedule differs")
        }
        if let poisoned = result.poisoned {
            // Outputs the kernels never wrote keep the NaN poison: tells "not written" from "wrong".
            let outHoles = poisoned.out.filter(\.isNaN).count, lseHoles = poisoned.lse.filter(\.isNaN).count
            if outHoles > 0 || lseHoles > 0 {
                problems.append("into NaN-poisoned caller memory: \(outHoles) outputs and \(lseHoles) lse never written"
                                + (poisoned.lse.firstIndex(where: \.isNaN).map { ", first lse[\($0)]" } ?? ""))
            }
            if !poisoned.out.elementsEqual(out, by: { $0.bitPattern == $1.bitPattern }) && outHoles == 0 {
                problems.append("the caller-memory call (same metadata) differs from the scheduled call")
            }
        }
        return problems
    }

    /// Element `index` of out [b, s_q, h_q, 512] as its coordinates, with the query token's valid
    /// index count (sparse) so that a failure report says which row and what it saw.
    private func outPosition(_ index: Int) -> String {
        let column = index % 512, head = index / 512 % spec.heads
        let qi = index / (512 * spec.heads) % spec.queryLength, b = index / (512 * spec.heads * spec.queryLength)
        return "b \(b) qi \(qi) head \(head) col \(column)" + rowContext(b: b, qi: qi)
    }

    /// Element `index` of lse [b, h_q, s_q] as its coordinates.
    private func lsePosition(_ index: Int) -> String {
        let qi = index % spec.queryLength, head = index / spec.queryLength % spec.heads
        let b = index / (spec.queryLength * spec.heads)
        return "b \(b) qi \(qi) head \(head)" + rowContext(b: b, qi: qi)
    }

    private func rowContext(b: Int, qi: Int) -> String {
        if spec.dense { return " (seqlen \(HostElements(seqlens).load()[b]))" }
        let all: [Float] = HostElements(indices).load()
        let length = lengths.map { Int(HostElements($0).load()[b]) } ?? spec.topk
        let row = all[(b * spec.queryLength + qi) * spec.topk ..< (b * spec.queryLength + qi + 1) * spec.topk].prefix(max(0, length))
        return " (length \(length), \(row.filter { $0 >= 0 }.count) valid)"
    }

    private func run(on engine: MLAEngine) throws -> (out: [Float], lse: [Float]) {
        let result = try call(engine, schedule: MLASchedule(), upload: { $0 })
        return (HostElements(result.out).load(), HostElements(result.lse).load())
    }

    private struct DeviceResults {
        var out: [Float], lse: [Float], errors: [String], repeatOut: [Float]
        var poisoned: (out: [Float], lse: [Float])?
        /// The schedule's cumulative split counts (num_splits [b + 1]), for failure reports.
        var numSplits: [Float] = []
    }

    /// Two calls with one schedule object (the second reuses what the first filled), then a third
    /// through the caller-memory overload with that schedule's metadata, into `out`/`lse` filled
    /// with 0xFF bytes (NaN) on the backend's stream.
    private func runTwice(on engine: MLAEngine) throws -> DeviceResults {
        guard let cuda = engine.cudaBackend else {
            let first = try run(on: engine)
            return DeviceResults(out: first.out, lse: first.lse, errors: [], repeatOut: try run(on: engine).out, poisoned: nil)
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
        guard let metadata = schedule.metadata else { throw MLAError.backend("the first call left the schedule empty") }
        let out3 = try cuda.allocate(elementType: spec.elementType, shape: first.out.shape)
        let lse3 = try cuda.allocate(elementType: .float32, shape: first.lse.shape)
        for tensor in [out3, lse3] {
            try DeviceMemory.fillAsync(address: tensor.view.deviceAddress!,
                                       byteCount: tensor.view.elementCount * tensor.view.elementType.byteCount,
                                       byte: 0xFF, stream: cuda.stream)
        }
        try call(engine, metadata: metadata, out: out3.view, lse: lse3.view, upload: upload)
        let results = DeviceResults(
            out: HostElements(try cuda.download(first.out.view)).load(),
            lse: HostElements(try cuda.download(first.lse.view)).load(),
            errors: try cuda.workspace.takeErrors(),
            repeatOut: HostElements(try cuda.download(second.out.view)).load(),
            poisoned: (HostElements(try cuda.download(out3.view)).load(), HostElements(try cuda.download(lse3.view)).load()),
            numSplits: HostElements(try cuda.download(metadata.numSplits)).load())
        withExtendedLifetime((kept, first, second, out3, lse3, schedule)) {}
        return results
    }

    /// The call through the caller-memory overload (explicit metadata, `out` and `lse`).
    private func call(_ engine: MLAEngine, metadata: MLAMetadata, out: TensorView, lse: TensorView,
                      upload: (Tensor) throws(MLAError) -> Tensor) throws(MLAError) {
        let q = try upload(self.q), cache = try upload(self.cache)
        let sink = try self.sink.map { (t: Tensor) throws(MLAError) in try upload(t) }
        let format: KVCacheFormat = spec.fp8 ? .fp8DeepSeek : .native
        if spec.dense {
            let table = try upload(blockTable), lengths = try upload(seqlens)
            try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, blockTable: table.view, cacheSeqlens: lengths.view,
                                           headDimV: 512, metadata: metadata, softmaxScale: 0.05, kvFormat: format,
                                           attnSink: sink?.view, out: out, lse: lse)
            withExtendedLifetime((table, lengths)) {}
        } else {
            let indices = try upload(self.indices)
            let lengths = try self.lengths.map { (t: Tensor) throws(MLAError) in try upload(t) }
            try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view,
                                           indices: SparseIndices(indices: indices.view, topkLength: lengths?.view),
                                           headDimV: 512, metadata: metadata, softmaxScale: 0.05, kvFormat: format,
                                           attnSink: sink?.view, out: out, lse: lse)
            withExtendedLifetime((indices, lengths)) {}
        }
        withExtendedLifetime((q, cache, sink)) {}
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
