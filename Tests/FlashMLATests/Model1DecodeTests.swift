// Tests of MODEL1 sparse decoding (and its extra cache) on the CPU backend against the Float64 reference.
import Foundation
import Testing
import FlashMLATesting
@testable import FlashMLA

/// MODEL1 sparse decoding on the CPU backend (its split-KV schedule and combine, the GPU's math)
/// against the Float64 reference of ``SparseProblem`` (keys decoded by ``FP8Reference`` from the
/// layout's definition): unused cache slots are NaN, lists have `−1` holes, `topk_length` and
/// `extra_topk_length` are partial or 0, the extra keys join the same softmax, and a sink scales
/// the output.
@Suite struct Model1DecodeTests {
    /// Runs `config` (drawn from `seed`) on the CPU with `multiprocessors` workers and compares every
    /// row with the reference: lse `+∞` and out 0 exactly where no key is seen, cos-diff < 1e-6,
    /// each output within bf16 rounding, finite lse within 1e-4. Returns how many rows saw no key.
    @discardableResult
    static func check(_ config: SparseProblemConfig, seed: UInt64, multiprocessors: Int = 7, sink: [Float]? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let problem = SparseProblem(config, seed: seed)
        let sinkTensor = sink.map { Tensor($0, as: .float32, shape: [config.queryHeads]) }
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: multiprocessors)
        let scale = Float(pow(512.0, -0.55))
        let (out, lse) = try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view,
                                                        indices: problem.sparseIndices, headDimV: 512, schedule: MLASchedule(),
                                                        softmaxScale: scale, kvFormat: .fp8Model1, attnSink: sinkTensor?.view)
        let outValues = HostElements(out).load().map(Double.init), lseValues = HostElements(lse).load().map(Double.init)
        let (b, sQ, hQ) = (config.batchSize, config.queryLength, config.queryHeads)
        var refOut = [Double](repeating: 0, count: outValues.count), refLSE = [Double](repeating: 0, count: lseValues.count)
        var empty = 0
        for i in 0 ..< b {
            for j in 0 ..< sQ {
                for h in 0 ..< hQ {
                    var (row, rowLSE) = problem.referenceRow(request: i, qi: j, head: h, softmaxScale: Double(scale))
                    if let sink, rowLSE < .infinity {
                        let factor = 1 / (1 + exp(Double(sink[h]) - rowLSE))
                        row = row.map { $0 * factor }
                    }
                    let base = ((i * sQ + j) * hQ + h) * 512
                    refOut.replaceSubrange(base ..< base + 512, with: row)
                    refLSE[(i * hQ + h) * sQ + j] = rowLSE
                    if rowLSE == .infinity {
                        empty += 1
                        #expect(lseValues[(i * hQ + h) * sQ + j] == .infinity, "lse of an empty row [\(i)][\(h)][\(j)]",
                                sourceLocation: sourceLocation)
                        #expect(outValues[base ..< base + 512].allSatisfy { $0 == 0 }, "out of an empty row",
                                sourceLocation: sourceLocation)
                    }
                }
            }
        }
        #expect(!outValues.contains { !$0.isFinite }, "out has NaN or ∞ — \(config)", sourceLocation: sourceLocation)
        let rounded = refOut.map { Double(BFloat16(Float($0)).floatValue) }
        let cos = Comparison.cosDiff(outValues, rounded)
        #expect(cos < 1e-6, "cos-diff \(cos) — \(config)", sourceLocation: sourceLocation)
        let outliers = Comparison.outliers(outValues, refOut, relative: 1.0 / 128, absolute: 1e-5)
        #expect(outliers.isEmpty, "\(outliers.count) outputs beyond bf16 rounding — \(config)", sourceLocation: sourceLocation)
        let finite = zip(lseValues, refLSE).filter { $0.1.isFinite }
        let lseDiff = finite.map { abs($0.0 - $0.1) }.max() ?? 0
        #expect(lseDiff < 1e-4, "max |lse diff| \(lseDiff) — \(config)", sourceLocation: sourceLocation)
        return empty
    }

    static func config(pageSize: Int, extraPageSize: Int, extraTopk: Int = 0, topkLength: [Int32]? = nil,
                       extraTopkLength: [Int32]? = nil, invalid: Double = 0.15, heads: Int = 16) -> SparseProblemConfig {
        SparseProblemConfig(cacheSeqlens: [300, 90, 517], queryLength: 2, queryHeads: heads, topk: 128, topkLength: topkLength,
                            invalidFraction: invalid, elementType: .bfloat16, pageSize: pageSize, kvFormat: .model1,
                            extraTopk: extraTopk, extraTopkLength: extraTopkLength, extraPageSize: extraPageSize)
    }

    @Test("page sizes, with and without an extra cache", arguments: [(2, 64), (61, 2), (64, 64), (256, 2)])
    func pageSizes(pageSize: Int, extraPageSize: Int) throws {
        try Self.check(Self.config(pageSize: pageSize, extraPageSize: extraPageSize), seed: UInt64(pageSize))
        try Self.check(Self.config(pageSize: pageSize, extraPageSize: extraPageSize, extraTopk: 96), seed: UInt64(pageSize + 1))
    }

    /// Partial and zero counts in both lists; what lies past a count (NaN slots and all) is never read.
    @Test func partialAndZeroLengths() throws {
        try Self.check(Self.config(pageSize: 61, extraPageSize: 2, extraTopk: 70, topkLength: [5, 0, 128],
                                   extraTopkLength: [0, 33, 70]), seed: 21)
        try Self.check(Self.config(pageSize: 64, extraPageSize: 64, extraTopk: 64, topkLength: [64, 65, 1],
                                   extraTopkLength: [1, 0, 64]), seed: 22, multiprocessors: 3)
        try Self.check(Self.config(pageSize: 2, extraPageSize: 2, topkLength: [0, 17, 100]), seed: 23)
    }

    /// No valid key in a row (all `−1`, or both counts 0): out 0 and lse `+∞`, with or without a sink.
    @Test func rowsWithoutAKey() throws {
        let none = try Self.check(Self.config(pageSize: 64, extraPageSize: 2, extraTopk: 32, topkLength: [0, 0, 0],
                                              extraTopkLength: [0, 0, 0]), seed: 31, sink: Array(repeating: 0.5, count: 16))
        #expect(none == 3 * 2 * 16)
        let holes = try Self.check(Self.config(pageSize: 64, extraPageSize: 2, extraTopk: 32, invalid: 1), seed: 32)
        #expect(holes == 3 * 2 * 16)
        // Keys in the extra list only.
        let extraOnly = try Self.check(Self.config(pageSize: 61, extraPageSize: 64, extraTopk: 40, topkLength: [0, 0, 0]), seed: 33)
        #expect(extraOnly == 0)
    }

    @Test func sinks() throws {
        var sink = [Float](repeating: 0, count: 16)
        for h in 0 ..< 16 {
            switch h % 4 {
            case 0: sink[h] = .infinity
            case 1: sink[h] = -.infinity
            default: sink[h] = Float(h) / 4 - 1
            }
        }
        try Self.check(Self.config(pageSize: 61, extraPageSize: 2, extraTopk: 50, extraTopkLength: [50, 3, 0]), seed: 41, sink: sink)
    }

    /// The extra keys are in the same softmax as the main ones: the result differs from both the
    /// main-only and the extra-only attention, and equals the reference of the union (checked above).
    @Test func oneSoftmaxOverTheUnion() throws {
        let config = Self.config(pageSize: 64, extraPageSize: 2, extraTopk: 64, invalid: 0)
        let problem = SparseProblem(config, seed: 51)
        let engine = try MLAEngine(backend: .cpu)
        func run(_ sparse: SparseIndices) throws -> [Float] {
            try HostElements(engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view, indices: sparse,
                                                        headDimV: 512, schedule: MLASchedule(), kvFormat: .fp8Model1).lse).load()
        }
        let union = try run(problem.sparseIndices)
        let mainOnly = try run(SparseIndices(indices: problem.indices.view))
        // The union's lse is log(exp(lse_main) + exp(lse_extra)) > lse_main for every row.
        #expect(zip(union, mainOnly).allSatisfy { $0.0 > $0.1 })
        withExtendedLifetime(problem) {}
    }
}

/// The MODEL1 quantizer and the page layout it writes.
@Suite struct Model1QuantizerTests {
    @Test func scaleBytesArePowersOfTwoAboveAmaxOver448() {
        #expect(Model1Quantizer.scaleByte(amax: 448) == 127)          // 448 / 448 = 1 = 2⁰
        #expect(Model1Quantizer.scaleByte(amax: 449) == 128)          // just above: 2¹
        #expect(Model1Quantizer.scaleByte(amax: 224) == 126)          // 2⁻¹
        #expect(Model1Quantizer.scaleByte(amax: 0) == 114)            // max(0, 1e-4) → 2⁻¹³ = 1.22e-4
        #expect(Model1Layout.scaleValue(127) == 1 && Model1Layout.scaleValue(130) == 8 && Model1Layout.scaleValue(255).isNaN)
    }

    /// Token t's data at t·576 of its page, its scales at P·576 + t·8; values within E4M3's
    /// relative precision (2⁻⁴) of the scale's grid, RoPE exact in bf16; the padding zero.
    @Test(arguments: [1, 2, 61, 64])
    func layoutAndRoundTrip(pageSize: Int) throws {
        var generator = SeededGenerator.fresh()
        let pages = 3, dim = 512
        var values = [Float](repeating: 0, count: pages * pageSize * dim)
        for index in values.indices {
            let magnitude: Float = index % dim < 64 ? 100 : 1
            values[index] = BFloat16(Float.random(in: -3 ... 3, using: &generator) * magnitude).floatValue
        }
        let source = Tensor(values, as: .float32, shape: [pages, pageSize, 1, dim])
        let cache = try Model1Quantizer.quantize(source.view)
        let pageBytes = Model1Layout.paddedPageBytes(pageSize: pageSize)
        #expect(cache.shape == [pages, pageSize, 1, 584] && cache.view.strides == [pageBytes, 584, 584, 1])
        #expect(pageBytes % 576 == 0 && pageBytes >= pageSize * 584)
        let raw = UnsafeRawPointer(cache.view.hostPointer!)
        var row = [Float](repeating: 0, count: 576)
        for page in 0 ..< pages {
            for slot in 0 ..< pageSize {
                let base = raw + page * pageBytes
                #expect(base.load(fromByteOffset: pageSize * 576 + slot * 8 + 7, as: UInt8.self) == 0)
                row.withUnsafeMutableBufferPointer { FP8Reference.decodeModel1Token(page: base, slot: slot, pageSize: pageSize, into: $0.baseAddress!, roundingTo: .bfloat16) }
                var library = [Float](repeating: .nan, count: 576)
                library.withUnsafeMutableBufferPointer {
                    CacheDequantizer.model1(page: base, slot: slot, pageSize: pageSize, roundingTo: .bfloat16, into: $0.baseAddress!)
                }
                #expect(Array(library[0 ..< 512]) == Array(row[0 ..< 512]) && library[512 ..< 576].allSatisfy { $0 == 0 })
                let original = (page * pageSize + slot) * dim
                for d in 0 ..< 448 {
                    let scale = Model1Layout.scaleValue(base.load(fromByteOffset: pageSize * 576 + slot * 8 + d / 64, as: UInt8.self))
                    #expect(abs(row[d] - values[original + d]) <= max(abs(values[original + d]) / 16, scale * 0x1p-9),
                            "page \(page) slot \(slot) dim \(d)")
                }
                #expect(Array(row[448 ..< 512]) == Array(values[original + 448 ..< original + 512]))
            }
        }
        withExtendedLifetime(cache) {}
    }

    @Test func quantizeRefusesOtherShapes() {
        #expect(throws: MLAError.self) { try Model1Quantizer.quantize(Tensor(hostElementType: .float32, shape: [2, 4, 1, 576]).view) }
        #expect(throws: MLAError.self) { try Model1Quantizer.quantize(Tensor(hostElementType: .float32, shape: [2, 4, 2, 512]).view) }
    }
}
