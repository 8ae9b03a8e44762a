// RandomProblem: the host inputs of one random decode problem, drawn the way FlashMLA's tests draw them.
import Dispatch
import FlashMLA

/// Host inputs of one decode problem, drawn at random the way FlashMLA's tests draw them:
/// pages handed out in shuffled order, NaN in every cache slot past a sequence's end and in
/// pages no request uses, and block-table entries past a request's pages holding garbage.
/// An FP8 cache is the quantized random cache (NaN slots become NaN codes, or NaN scales);
/// the reference reads its dequantized values.
///
/// `@unchecked Sendable`: the tensors are written only while the initializer runs.
public final class RandomProblem: @unchecked Sendable {
    /// The shape drawn.
    public let config: ProblemConfig
    /// `[b, s_q, h_q, 576]` in the element type.
    public let q: Tensor
    /// The cache the backend reads, in `kvFormat`.
    public let kCache: Tensor
    /// `[numPages, P, h_kv, 576]`: the values `kCache` stands for (the cache itself when native,
    /// else its dequantized Float32 values), read through `HostElements`.
    public let referenceCache: Tensor
    /// The format to pass with `kCache`.
    public let kvFormat: KVCacheFormat
    /// Int32 `[b, maxPagesPerRequest]`.
    public let blockTable: Tensor
    /// Int32 `[b]`.
    public let cacheSeqlens: Tensor
    /// Pages in the cache: those the requests use and `sparePages` more.
    public let numPages: Int

    /// Draws the problem of `config` from `seed`, with `sparePages` pages no request uses and
    /// `extraColumns` block-table columns past the longest request's pages (nil: 0–2, drawn;
    /// the draw is made either way, so a seed gives the same values).
    public init(_ config: ProblemConfig, seed: UInt64, sparePages: Int = 3, extraColumns: Int? = nil) {
        self.config = config
        var rng = InputRandom(seed: seed)
        let page = config.pageSize, d = DecodeProblem.headDim
        let pagesPerRequest = config.cacheSeqlens.map { (Int($0) + page - 1) / page }
        let usedPages = pagesPerRequest.reduce(0, +)
        let numPages = usedPages + sparePages
        let drawnColumns = Int(rng.next() % 3)
        let maxPages = max((pagesPerRequest.max() ?? 0) + (extraColumns ?? drawnColumns), 1)
        var order = Array(0..<numPages)
        order.shuffle(using: &rng)

        // Block table: each request's pages from the shuffled order; garbage after them.
        var table = [Int32](repeating: 0, count: config.batchSize * maxPages)
        var tokenOfSlot = [Int32](repeating: -1, count: numPages)   // valid tokens per page, -1: unused
        var next = 0
        for (request, count) in pagesPerRequest.enumerated() {
            for slot in 0..<maxPages {
                if slot < count {
                    let id = order[next]
                    next += 1
                    table[request * maxPages + slot] = Int32(id)
                    tokenOfSlot[id] = Int32(min(page, Int(config.cacheSeqlens[request]) - slot * page))
                } else {
                    table[request * maxPages + slot] = rng.next() % 2 == 0 ? -1 : Int32(truncatingIfNeeded: rng.next() % 1_000_000 + UInt64(numPages))
                }
            }
        }
        blockTable = Tensor(table, shape: [config.batchSize, maxPages])
        cacheSeqlens = Tensor(config.cacheSeqlens, shape: [config.batchSize])
        self.numPages = numPages

        q = Tensor(hostElementType: config.elementType, shape: [config.batchSize, config.queryLength, config.queryHeads, d])
        RandomProblem.fill(q.view, seed: rng.next()) { _ in true }
        let values = Tensor(hostElementType: config.elementType, shape: [numPages, page, config.kvHeads, d])
        let rowsPerPage = page * config.kvHeads * d
        let validTokens = tokenOfSlot
        RandomProblem.fill(values.view, seed: rng.next()) { offset in
            let pageIndex = offset / rowsPerPage
            let token = (offset % rowsPerPage) / (config.kvHeads * d)
            return token < Int(validTokens[pageIndex])
        }
        if config.kvFormat == .native {
            kvFormat = .native
            kCache = values
            referenceCache = values
        } else {
            let largest = HostElements(values).load().reduce(Float(0)) { $1.isNaN ? $0 : max($0, $1.magnitude) }
            kvFormat = config.kvFormat.format(scale: FP8Quantizer.perTensorScale(maxMagnitude: largest))
            kCache = try! FP8Quantizer.quantize(values.view, format: kvFormat)
            referenceCache = FP8Reference.dequantize(kCache, format: kvFormat, roundingTo: config.elementType)
        }
    }

    /// The block table's rows as written, garbage entries included.
    public var blockTableRows: [[Int32]] {
        let elements = HostElements(blockTable), columns = blockTable.shape[1]
        return (0..<config.batchSize).map { request in
            (0..<columns).map { elements.int32(offset: request * columns + $0) }
        }
    }

    /// `out` `[b, s_q, h_q, 512]` (the element type) and `lse` Float32 `[b, h_q, s_q]` host
    /// tensors, every element NaN, so that any element a backend leaves unwritten shows.
    public func poisonedOutputs() -> (out: Tensor, lse: Tensor) {
        Self.poisonedOutputs(batchSize: config.batchSize, queryLength: config.queryLength, queryHeads: config.queryHeads,
                             elementType: config.elementType)
    }

    /// `out` `[b, s_q, h_q, 512]` in `elementType` and `lse` Float32 `[b, h_q, s_q]` host
    /// tensors, every element NaN.
    public static func poisonedOutputs(batchSize: Int, queryLength: Int, queryHeads: Int,
                                       elementType: ElementType) -> (out: Tensor, lse: Tensor) {
        let out = Tensor(hostElementType: elementType, shape: [batchSize, queryLength, queryHeads, DecodeProblem.headDimV])
        let lse = Tensor(hostElementType: .float32, shape: [batchSize, queryHeads, queryLength])
        HostElements(out).fill(.nan)
        HostElements(lse).fill(.nan)
        return (out, lse)
    }

    /// Fills a contiguous host tensor in parallel: random values where `valid(offset)`, NaN elsewhere.
    public static func fill(_ view: TensorView, seed: UInt64, valid: @Sendable (Int) -> Bool) {
        let count = view.elementCount
        let chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk
        let elements = HostElements(view)
        DispatchQueue.concurrentPerform(iterations: chunks) { index in
            var rng = InputRandom(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
            for offset in (index * chunk)..<min(count, (index + 1) * chunk) {
                elements[offset: offset] = valid(offset) ? rng.normalish() : .nan
            }
        }
    }
}
