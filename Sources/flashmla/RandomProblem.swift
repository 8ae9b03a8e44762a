import Dispatch
import FlashMLA

/// The shape of one decode problem.
struct ProblemConfig: CustomStringConvertible {
    var cacheSeqlens: [Int32]
    var queryLength: Int
    var queryHeads: Int
    var kvHeads: Int
    var causal: Bool
    var elementType: ElementType
    /// Tokens a cache page (1…256).
    var pageSize = TileSchedule.blockSize
    /// How the cache stores a token.
    var kvFormat = KVFormatChoice.native

    var batchSize: Int { cacheSeqlens.count }

    /// A random shape as the GPU issue lists them: b 1–128, s_q 1–4, h_q in {1, 2, 3, 8, 16, 32,
    /// 64, 128} over h_kv in {1, 2, 8} where it divides, lengths 0…maxLength with 0, 1, 63, 64
    /// and 65 drawn often, causal three times in four. Lengths are drawn up to `tokenBudget / (b·h_kv)`,
    /// so Σlengths·h_kv stays within the budget when that bound is at least 65 (budgets from
    /// 66,560 on); the special lengths and the minimum of 1 ignore smaller budgets.
    static func random(using rng: inout InputRandom, tokenBudget: Int, maxLength: Int, elementType: ElementType,
                       pageSize: PageSizeChoice = .fixed(TileSchedule.blockSize), kvFormat: KVFormatChoice = .native) -> ProblemConfig {
        let kvHeads = kvFormat == .fp8DS ? 1 : [1, 2, 8].randomElement(using: &rng)!
        let page = pageSize.draw(using: &rng)
        let queryHeads = [1, 2, 3, 8, 16, 32, 64, 128].filter { $0 % kvHeads == 0 }.randomElement(using: &rng)!
        let batch = rng.next() % 2 == 0 ? Int.random(in: 1...16, using: &rng) : Int.random(in: 1...128, using: &rng)
        let longest = max(1, min(maxLength, tokenBudget / (batch * kvHeads)))
        let lengths = (0..<batch).map { _ -> Int32 in
            if Int.random(in: 0..<100, using: &rng) < 15 { return [0, 1, 63, 64, 65].randomElement(using: &rng)! }
            return Int32(Int.random(in: 0...longest, using: &rng))
        }
        return ProblemConfig(cacheSeqlens: lengths, queryLength: Int.random(in: 1...4, using: &rng),
                             queryHeads: queryHeads, kvHeads: kvHeads, causal: rng.next() % 4 != 0,
                             elementType: elementType, pageSize: page, kvFormat: kvFormat)
    }
    var description: String {
        let lengths = cacheSeqlens.count <= 6 ? "\(cacheSeqlens)"
            : "[\(cacheSeqlens.prefix(3).map(String.init).joined(separator: ", ")), … Σ=\(cacheSeqlens.reduce(0) { $0 + Int($1) })]"
        let layout = (pageSize == TileSchedule.blockSize ? "" : " page=\(pageSize)")
            + (kvFormat == .native ? "" : " kv=\(kvFormat.rawValue)")
        return "b=\(batchSize) s_q=\(queryLength) h_q=\(queryHeads) h_kv=\(kvHeads) causal=\(causal) \(elementType)\(layout) seqlens=\(lengths)"
    }
}

/// Host inputs of one decode problem, drawn at random the way FlashMLA's tests draw them:
/// pages handed out in shuffled order, NaN in every cache slot past a sequence's end and in
/// pages no request uses, and block-table entries past a request's pages holding garbage.
/// An FP8 cache is the quantized random cache (NaN slots become NaN codes, or NaN scales);
/// the reference reads its dequantized values.
struct RandomProblem {
    let config: ProblemConfig
    let q: Tensor
    /// The cache the backend reads, in `kvFormat`.
    let kCache: Tensor
    /// `[numPages, P, h_kv, 576]`: the values `kCache` stands for (the cache itself when native,
    /// else its dequantized Float32 values), read through `HostElements`.
    let referenceCache: Tensor
    /// The format to pass with `kCache`.
    let kvFormat: KVCacheFormat
    let blockTable: Tensor
    let cacheSeqlens: Tensor
    let numPages: Int

    init(_ config: ProblemConfig, seed: UInt64, sparePages: Int = 3) {
        self.config = config
        var rng = InputRandom(seed: seed)
        let page = config.pageSize, d = DecodeProblem.headDim
        let pagesPerRequest = config.cacheSeqlens.map { (Int($0) + page - 1) / page }
        let usedPages = pagesPerRequest.reduce(0, +)
        let numPages = usedPages + sparePages
        let maxPages = max((pagesPerRequest.max() ?? 0) + Int(rng.next() % 3), 1)
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
            let largest = HostElements(values.view).load().reduce(Float(0)) { $1.isNaN ? $0 : max($0, $1.magnitude) }
            kvFormat = config.kvFormat.format(scale: FP8Quantizer.perTensorScale(maxMagnitude: largest))
            kCache = try! FP8Quantizer.quantize(values.view, format: kvFormat)
            referenceCache = FP8Reference.dequantize(kCache, format: kvFormat, roundingTo: config.elementType)
        }
    }

    /// Fills a contiguous host tensor in parallel: random values where `valid(offset)`, NaN elsewhere.
    static func fill(_ view: TensorView, seed: UInt64, valid: @Sendable (Int) -> Bool) {
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
