// DecodeProblem: one validated decode call.
/// One validated decode call: every size and flag, checked once, as typed values.
///
/// Validation (``DecodeProblem/init(q:kCache:blockTable:cacheSeqlens:headDimV:metadata:softmaxScale:causal:kvFormat:out:lse:backend:)``)
/// builds it; the backends read it and never re-derive or re-check a shape.
public struct DecodeProblem: Sendable {
    /// The key (and query) head dimension: 576.
    public static let headDim = 576
    /// The value head dimension: 512, the first 512 of the 576 cached values.
    public static let headDimV = 512

    /// Requests, `b`.
    public var batchSize: Int
    /// New query tokens per request, `s_q`.
    public var queryLength: Int
    /// Query heads, `h_q`.
    public var queryHeads: Int
    /// KV heads, `h_kv`.
    public var kvHeads: Int
    /// Pages in the cache.
    public var numPages: Int
    /// Tokens a page, `P` (1 … 256): dimension 1 of `kCache`. Token `t` of a request lives in
    /// page `blockTable[t / P]`, slot `t % P`.
    public var pageSize: Int
    /// How the cache stores a token.
    public var kvFormat: KVCacheFormat
    /// Entries per block-table row.
    public var maxPagesPerRequest: Int
    /// The type of `q` and `out` (and of `kCache` in the native format).
    public var elementType: ElementType
    /// The factor applied to `q·k` before the softmax.
    public var softmaxScale: Float
    /// Whether query row `j` sees only keys `0 … seqlen − s_q + j` (``CausalMask``).
    public var causal: Bool

    /// `[b, s_q, h_q, 576]`.
    public var q: TensorView
    /// `[numPages, P, h_kv, 576]` (native, per-tensor FP8) or uint8 `[numPages, P, 1, 656]`.
    public var kCache: TensorView
    /// Int32 `[b, maxPagesPerRequest]`.
    public var blockTable: TensorView
    /// Int32 `[b]`.
    public var cacheSeqlens: TensorView
    /// `[b, s_q, h_q, 512]`, the type of `q`.
    public var out: TensorView
    /// Float32 `[b, h_q, s_q]`.
    public var lse: TensorView
    /// The schedule.
    public var metadata: MLAMetadata
    /// Float32 `[h_q]`, FlashMLA's `attn_sink`, or nil: each final output row of head `h` is
    /// multiplied by `exp(lse) / (exp(lse) + exp(attnSink[h]))`; `lse` is reported unchanged.
    public var attnSink: TensorView? = nil
    /// The sparse selection, or nil for dense decoding. When set, `blockTable` is
    /// `sparse.indices` and `cacheSeqlens` is `sparse.topkLength ?? sparse.indices` (neither is
    /// read as a block table or lengths), `maxPagesPerRequest` is `topk` and `causal` is false.
    public var sparse: SparseIndices? = nil

    /// Query heads per KV head, `h_q / h_kv`.
    public var groupSize: Int { queryHeads / kvHeads }
    /// Query rows that share a KV head, `s_q · h_q / h_kv`.
    public var rowsPerKVHead: Int { queryLength * groupSize }
    /// Whether this is a sparse decode (``sparse`` set).
    public var isSparse: Bool { sparse != nil }
    /// The rows one decode tile may hold: all `rowsPerKVHead` for dense decoding, one query
    /// token's `h_q / h_kv` for sparse decoding (each token has its own keys).
    public var rowsPerTile: Int { isSparse ? groupSize : rowsPerKVHead }
}
