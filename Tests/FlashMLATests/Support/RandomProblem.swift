@testable import FlashMLA

/// The sizes of one random decode problem.
struct ProblemSpec: Sendable, CustomStringConvertible {
    var lengths: [Int]
    var queryLength: Int
    var queryHeads: Int
    var kvHeads: Int
    var elementType: ElementType
    var causal: Bool
    /// Pages of the cache that no request uses (filled with NaN).
    var unusedPages = 3
    /// Extra block-table columns past the longest request (filled with invalid page ids).
    var extraColumns = 1

    var batchSize: Int { lengths.count }
    var description: String {
        "lengths \(lengths) s_q \(queryLength) h_q \(queryHeads) h_kv \(kvHeads) \(elementType) causal \(causal)"
    }
}

/// Host tensors for a random problem, with the exact (rounded) values they hold.
///
/// Every cache slot past a request's length and every page no request uses holds NaN; the
/// block table maps each request's pages to a random permutation of the cache's pages, and
/// its unused entries hold page ids that do not exist.
final class RandomProblem: @unchecked Sendable {
    let spec: ProblemSpec
    let q: Tensor
    let kCache: Tensor
    let blockTable: Tensor
    let cacheSeqlens: Tensor
    /// `q`'s values, row-major `[b, s_q, h_q, 576]`, exactly as stored.
    let queryValues: [Float]
    /// `kCache`'s values, row-major `[numPages, 64, h_kv, 576]`, exactly as stored.
    let cacheValues: [Float]
    /// The block table as written.
    let table: [[Int32]]
    let numPages: Int

    static let dim = 576, valueDim = 512, pageSize = 64

    init(_ spec: ProblemSpec, using generator: inout SeededGenerator) {
        self.spec = spec
        let dim = Self.dim, pageSize = Self.pageSize
        let pagesPerRequest = spec.lengths.map { ($0 + pageSize - 1) / pageSize }
        let usedPages = pagesPerRequest.reduce(0, +)
        numPages = usedPages + spec.unusedPages
        let maxPages = (pagesPerRequest.max() ?? 0) + spec.extraColumns

        var pages = Array(0 ..< numPages).shuffled(using: &generator)
        var table = [[Int32]]()
        for count in pagesPerRequest {
            var row = pages.prefix(count).map { Int32($0) }
            pages.removeFirst(count)
            while row.count < maxPages { row.append(Bool.random(using: &generator) ? -7 : Int32(numPages + 1000)) }
            table.append(row)
        }
        self.table = table

        let type = spec.elementType
        func rounded(_ value: Float) -> Float {
            type == .bfloat16 ? BFloat16(value).floatValue : Float(Float16(value))
        }
        let queryCount = spec.batchSize * spec.queryLength * spec.queryHeads * dim
        queryValues = (0 ..< queryCount).map { _ in rounded(Float.random(in: -2 ... 2, using: &generator)) }

        // Which token of which request each (page, slot) holds, or nil.
        var owner = [Int?](repeating: nil, count: numPages * pageSize)
        for (request, row) in table.enumerated() {
            for (column, page) in row.prefix(pagesPerRequest[request]).enumerated() {
                for slot in 0 ..< pageSize {
                    let token = column * pageSize + slot
                    if token < spec.lengths[request] { owner[Int(page) * pageSize + slot] = token }
                }
            }
        }
        var cache = [Float](repeating: .nan, count: numPages * pageSize * spec.kvHeads * dim)
        for pageSlot in owner.indices where owner[pageSlot] != nil {
            for index in pageSlot * spec.kvHeads * dim ..< (pageSlot + 1) * spec.kvHeads * dim {
                cache[index] = rounded(Float.random(in: -1 ... 1, using: &generator))
            }
        }
        cacheValues = cache

        q = Tensor(queryValues, as: type, shape: [spec.batchSize, spec.queryLength, spec.queryHeads, dim])
        kCache = Tensor(cacheValues, as: type, shape: [numPages, pageSize, spec.kvHeads, dim])
        blockTable = Tensor(table.flatMap { $0 }, shape: [spec.batchSize, maxPages])
        cacheSeqlens = Tensor(spec.lengths.map { Int32($0) }, shape: [spec.batchSize])
    }

    /// `out` and `lse` tensors of the right shapes, every element NaN.
    func poisonedOutputs() -> (out: Tensor, lse: Tensor) {
        let out = Tensor(hostElementType: spec.elementType,
                         shape: [spec.batchSize, spec.queryLength, spec.queryHeads, Self.valueDim])
        let lse = Tensor(hostElementType: .float32, shape: [spec.batchSize, spec.queryHeads, spec.queryLength])
        HostElements(out.view).fill(.nan)
        HostElements(lse.view).fill(.nan)
        return (out, lse)
    }

    /// Metadata from a CPU engine whose schedule counts `multiprocessors` workers.
    func metadata(multiprocessors: Int) throws -> MLAMetadata {
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: multiprocessors)
        return try engine.getMLAMetadata(cacheSeqlens: cacheSeqlens.view,
                                         rowsPerKVHead: spec.queryLength * spec.queryHeads / spec.kvHeads,
                                         kvHeads: spec.kvHeads)
    }

    /// Runs the CPU backend in `mode` into fresh poisoned outputs; returns their values.
    func runCPU(mode: CPUBackend.Mode, multiprocessors: Int, softmaxScale: Float? = nil) throws
        -> (out: [Float], lse: [Float], metadata: MLAMetadata) {
        let metadata = try metadata(multiprocessors: multiprocessors)
        let (out, lse) = poisonedOutputs()
        let problem = try DecodeProblem(
            q: q.view, kCache: kCache.view, blockTable: blockTable.view, cacheSeqlens: cacheSeqlens.view,
            headDimV: Self.valueDim, metadata: metadata, softmaxScale: softmaxScale, causal: spec.causal,
            out: out.view, lse: lse.view, backend: .cpu)
        CPUBackend.decode(problem, mode: mode)
        return (HostElements(out.view).load(), HostElements(lse.view).load(), metadata)
    }
}
