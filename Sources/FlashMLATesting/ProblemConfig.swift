// ProblemConfig: the shape of one random decode problem, and the random shapes `check` draws.
import FlashMLA

/// The shape of one decode problem.
public struct ProblemConfig: Sendable, CustomStringConvertible {
    /// The cached tokens of each request, `b` entries.
    public var cacheSeqlens: [Int32]
    /// New query tokens per request, `s_q`.
    public var queryLength: Int
    /// Query heads, `h_q`.
    public var queryHeads: Int
    /// KV heads, `h_kv` (dividing `h_q`).
    public var kvHeads: Int
    /// Whether the causal mask applies (``CausalMask``).
    public var causal: Bool
    /// The type of `q`, `out` and a native cache.
    public var elementType: ElementType
    /// Tokens a cache page (1…256).
    public var pageSize: Int
    /// How the cache stores a token.
    public var kvFormat: KVFormatChoice

    /// A shape; pages of FlashMLA's 64 tokens in the input type unless `pageSize`/`kvFormat` say otherwise.
    public init(cacheSeqlens: [Int32], queryLength: Int, queryHeads: Int, kvHeads: Int, causal: Bool,
                elementType: ElementType, pageSize: Int = TileSchedule.blockSize, kvFormat: KVFormatChoice = .native) {
        self.cacheSeqlens = cacheSeqlens
        self.queryLength = queryLength
        self.queryHeads = queryHeads
        self.kvHeads = kvHeads
        self.causal = causal
        self.elementType = elementType
        self.pageSize = pageSize
        self.kvFormat = kvFormat
    }

    /// Requests in the batch, `b`.
    public var batchSize: Int { cacheSeqlens.count }
    /// Query rows that share a KV head, `s_q · h_q / h_kv`.
    public var rowsPerKVHead: Int { queryLength * queryHeads / kvHeads }

    /// A random shape as the GPU issue lists them: b 1–128, s_q 1–4, h_q in {1, 2, 3, 8, 16, 32,
    /// 64, 128} over h_kv in {1, 2, 8} where it divides, lengths 0…maxLength with 0, 1, 63, 64
    /// and 65 drawn often, causal three times in four. Lengths are drawn up to `tokenBudget / (b·h_kv)`,
    /// so Σlengths·h_kv stays within the budget when that bound is at least 65 (budgets from
    /// 66,560 on); the special lengths and the minimum of 1 ignore smaller budgets.
    public static func random(using rng: inout InputRandom, tokenBudget: Int, maxLength: Int, elementType: ElementType,
                              pageSize: PageSizeChoice = .fixed(TileSchedule.blockSize),
                              kvFormat: KVFormatChoice = .native) -> ProblemConfig {
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

    /// `b=… s_q=… h_q=… h_kv=… causal=… type [page=…] [kv=…] seqlens=…`, long length lists cut short.
    public var description: String {
        let lengths = cacheSeqlens.count <= 6 ? "\(cacheSeqlens)"
            : "[\(cacheSeqlens.prefix(3).map(String.init).joined(separator: ", ")), … Σ=\(cacheSeqlens.reduce(0) { $0 + Int($1) })]"
        let layout = (pageSize == TileSchedule.blockSize ? "" : " page=\(pageSize)")
            + (kvFormat == .native ? "" : " kv=\(kvFormat.rawValue)")
        return "b=\(batchSize) s_q=\(queryLength) h_q=\(queryHeads) h_kv=\(kvHeads) causal=\(causal) \(elementType)\(layout) seqlens=\(lengths)"
    }
}
