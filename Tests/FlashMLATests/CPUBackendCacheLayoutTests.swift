// Tests of the CPU backend on page sizes and FP8 caches.
import Foundation
import Testing
@testable import FlashMLA

/// A decode problem on a cache of `pageSize`-token pages in `format`, with the values the cache
/// stands for decoded from the layout's definition (not by the library's readers).
struct LayoutProblem {
    let lengths: [Int]
    let queryLength: Int, queryHeads: Int, kvHeads: Int
    let pageSize: Int
    let elementType: ElementType
    let format: KVCacheFormat
    let q: Tensor, kCache: Tensor, blockTable: Tensor, cacheSeqlens: Tensor
    /// Query values, row-major `[b, s_q, h_q, 576]`.
    let queries: [Float]
    /// The values of cache token `slot` of page `page`, KV head `h`: `[(page·P + slot)·h_kv + h][576]`.
    let keys: [[Float]]
    let table: [[Int32]]

    init(lengths: [Int], queryLength: Int, queryHeads: Int, kvHeads: Int, pageSize: Int, elementType: ElementType,
         format: KVCacheFormatKind, using generator: inout SeededGenerator) throws {
        self.lengths = lengths
        self.queryLength = queryLength
        self.queryHeads = queryHeads
        self.kvHeads = kvHeads
        self.pageSize = pageSize
        self.elementType = elementType
        let dim = 576, pagesPerRequest = lengths.map { ($0 + pageSize - 1) / pageSize }
        let numPages = pagesPerRequest.reduce(0, +) + 2
        let maxPages = (pagesPerRequest.max() ?? 0) + 1
        var free = Array(0 ..< numPages).shuffled(using: &generator)
        var table = [[Int32]](), used = Set<Int>()
        for (request, count) in pagesPerRequest.enumerated() {
            var row = free.prefix(count).map { Int32($0) }
            free.removeFirst(count)
            for (column, page) in row.enumerated() {
                for slot in 0 ..< pageSize where column * pageSize + slot < lengths[request] {
                    used.insert(Int(page) * pageSize + slot)
                }
            }
            while row.count < maxPages { row.append(-3) }
            table.append(row)
        }
        self.table = table
        // Native values: random where a token is used, NaN in every other slot.
        var values = [Float](repeating: .nan, count: numPages * pageSize * kvHeads * dim)
        for token in used {
            for index in token * kvHeads * dim ..< (token + 1) * kvHeads * dim {
                values[index] = Float.random(in: -3 ... 3, using: &generator)
            }
        }
        let native = Tensor(values, as: elementType, shape: [numPages, pageSize, kvHeads, dim])
        let stored = HostElements(native).load()
        switch format {
        case .native:
            self.format = .native
            kCache = native
            keys = (0 ..< numPages * pageSize * kvHeads).map { Array(stored[$0 * dim ..< ($0 + 1) * dim]) }
        case .perTensor:
            let scale = Float(3) / 448
            self.format = .fp8PerTensor(scale: scale)
            kCache = try FP8Quantizer.quantize(native.view, format: self.format)
            let bytes = UnsafeRawPointer(kCache.view.hostPointer!)
            keys = (0 ..< numPages * pageSize * kvHeads).map { token in
                (0 ..< dim).map { Float(Float8E4M3Tests.defined(bytes.load(fromByteOffset: token * dim + $0, as: UInt8.self))) * scale }
            }
        case .deepSeek:
            self.format = .fp8DeepSeek
            kCache = try FP8Quantizer.quantize(native.view, format: .fp8DeepSeek)
            let bytes = UnsafeRawPointer(kCache.view.hostPointer!)
            func rounded(_ value: Float) -> Float {
                elementType == .bfloat16 ? BFloat16(value).floatValue : Float(Float16(value))
            }
            keys = (0 ..< numPages * pageSize).map { token in
                let base = token * 656
                let nope = (0 ..< 512).map { i -> Float in
                    let code = bytes.load(fromByteOffset: base + i, as: UInt8.self)
                    let scale = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: base + 512 + 4 * (i / 128), as: UInt32.self))
                    return rounded(Float(Float8E4M3Tests.defined(code)) * scale)
                }
                let rope = (0 ..< 64).map { i in
                    rounded(Float(bitPattern: UInt32(bytes.loadUnaligned(fromByteOffset: base + 528 + 2 * i, as: UInt16.self)) << 16))
                }
                return nope + rope
            }
        }
        queries = (0 ..< lengths.count * queryLength * queryHeads * dim).map { _ in
            let value = Float.random(in: -1 ... 1, using: &generator)
            return elementType == .bfloat16 ? BFloat16(value).floatValue : Float(Float16(value))
        }
        q = Tensor(queries, as: elementType, shape: [lengths.count, queryLength, queryHeads, dim])
        blockTable = Tensor(table.flatMap { $0 }, shape: [lengths.count, maxPages])
        cacheSeqlens = Tensor(lengths.map { Int32($0) }, shape: [lengths.count])
    }

    /// Float64 attention, causal, scale 1/24: `out` `[b, s_q, h_q, 512]`, `lse` `[b, h_q, s_q]`.
    func reference() -> (out: [Double], lse: [Double]) {
        let b = lengths.count, group = queryHeads / kvHeads
        var out = [Double](repeating: 0, count: b * queryLength * queryHeads * 512)
        var lse = [Double](repeating: .infinity, count: b * queryHeads * queryLength)
        for i in 0 ..< b {
            for j in 0 ..< queryLength {
                let visible = CausalMask.visibleKeyCount(seqlen: lengths[i], queryLength: queryLength, position: j, causal: true)
                guard visible > 0 else { continue }
                for h in 0 ..< queryHeads {
                    let qBase = ((i * queryLength + j) * queryHeads + h) * 576
                    let rows = (0 ..< visible).map { t in keys[(Int(table[i][t / pageSize]) * pageSize + t % pageSize) * kvHeads + h / group] }
                    let scores = rows.map { row in (0 ..< 576).reduce(0.0) { $0 + Double(queries[qBase + $1]) * Double(row[$1]) } / 24 }
                    let largest = scores.max()!, total = scores.reduce(0) { $0 + exp($1 - largest) }
                    let oBase = ((i * queryLength + j) * queryHeads + h) * 512
                    for (t, row) in rows.enumerated() {
                        let p = exp(scores[t] - largest) / total
                        for d in 0 ..< 512 { out[oBase + d] += p * Double(row[d]) }
                    }
                    lse[(i * queryHeads + h) * queryLength + j] = largest + log(total)
                }
            }
        }
        return (out, lse)
    }
}

/// Which layout a ``LayoutProblem`` stores.
enum KVCacheFormatKind: String, CaseIterable, Sendable {
    case native, perTensor, deepSeek
}

/// The CPU backend on caches of any page size and in both FP8 layouts, against a Float64
/// reference on the values the cache stands for; NaN in every unused slot; split and whole requests.
@Suite struct CPUBackendCacheLayoutTests {
    static let cases: [(Int, KVCacheFormatKind)] = [1, 16, 48, 64, 256].flatMap { page in
        KVCacheFormatKind.allCases.map { (page, $0) }
    }

    @Test("matches the reference", arguments: cases)
    func matchesReference(pageSize: Int, kind: KVCacheFormatKind) throws {
        var generator = SeededGenerator.fresh()
        let heads = kind == .deepSeek ? (8, 1) : (4, 2)
        let type: ElementType = Bool.random(using: &generator) ? .bfloat16 : .float16
        let problem = try LayoutProblem(lengths: [1500, 1, 0, 65, 130], queryLength: 2, queryHeads: heads.0, kvHeads: heads.1,
                                        pageSize: pageSize, elementType: type, format: kind, using: &generator)
        let reference = problem.reference()
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 8)
        let metadata = try engine.getMLAMetadata(cacheSeqlens: problem.cacheSeqlens.view,
                                                 rowsPerKVHead: 2 * heads.0 / heads.1, kvHeads: heads.1)
        let splits = try #require(metadata.hostSchedule).numSplits
        #expect(splits.last! > Int32(problem.lengths.count), "some request must be split")
        #expect((0 ..< problem.lengths.count).contains { splits[$0 + 1] - splits[$0] == 1 }, "some request must be whole")
        let context = "page \(pageSize), \(kind), \(type), seed \(generator.seed)"
        for mode in [CPUBackend.Mode.direct, .splitKV] {
            let out = Tensor(hostElementType: type, shape: [5, 2, heads.0, 512])
            let lse = Tensor(hostElementType: .float32, shape: [5, heads.0, 2])
            HostElements(out).fill(.nan)
            HostElements(lse).fill(.nan)
            let decode = try DecodeProblem(q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
                                           cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, metadata: metadata,
                                           softmaxScale: nil, causal: true, kvFormat: problem.format,
                                           out: out.view, lse: lse.view, backend: .cpu)
            CPUBackend.decode(decode, mode: mode)
            let outValues = HostElements(out).load().map(Double.init)
            let lseValues = HostElements(lse).load().map(Double.init)
            #expect(!outValues.contains { !$0.isFinite } && !lseValues.contains { $0.isNaN }, "NaN — \(mode), \(context)")
            #expect(Comparison.cosDiff(outValues, reference.out) < 1e-5, "\(mode), \(context)")
            #expect(Comparison.maxAbsDiff(lseValues, reference.lse) < 1e-3, "\(mode), \(context)")
            let outliers = Comparison.outliers(outValues, reference.out, relative: 1.0 / 128, absolute: 1e-3)
            #expect(outliers.isEmpty, "\(outliers.count) outputs beyond rounding — \(mode), \(context)")
        }
    }

    /// The engine's public call takes the format; a wrong pairing of format and cache fails before any work.
    @Test func engineCallTakesTheFormat() throws {
        var generator = SeededGenerator.fresh()
        let problem = try LayoutProblem(lengths: [70, 3], queryLength: 1, queryHeads: 16, kvHeads: 1, pageSize: 48,
                                        elementType: .bfloat16, format: .deepSeek, using: &generator)
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 4)
        let metadata = try engine.getMLAMetadata(cacheSeqlens: problem.cacheSeqlens.view, rowsPerKVHead: 16, kvHeads: 1)
        let (out, lse) = try engine.flashMLAWithKVCache(
            q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
            cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, metadata: metadata, causal: true, kvFormat: .fp8DeepSeek)
        let reference = problem.reference()
        #expect(Comparison.cosDiff(HostElements(out).load().map(Double.init), reference.out) < 1e-5)
        #expect(Comparison.maxAbsDiff(HostElements(lse).load().map(Double.init), reference.lse) < 1e-3)
        #expect(throws: MLAError.self) {
            _ = try engine.flashMLAWithKVCache(
                q: problem.q.view, kCache: problem.kCache.view, blockTable: problem.blockTable.view,
                cacheSeqlens: problem.cacheSeqlens.view, headDimV: 512, metadata: metadata, causal: true)
        }
    }
}
