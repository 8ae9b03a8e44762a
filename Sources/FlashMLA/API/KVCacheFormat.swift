// KVCacheFormat: how the KV cache stores each token's values.
/// How the KV cache stores each token's 576 values (512 for ``fp8Model1``).
///
/// The cache is always `[numPages, pageSize, h_kv, bytesPerToken / elementSize]` with any page
/// size from 1 to 256; `q` and `out` are bf16 or fp16 in every format, and the products run
/// in `q`'s type after the cache is dequantized.
public enum KVCacheFormat: Sendable, Equatable, CustomStringConvertible {
    /// `q`'s type (bf16 or fp16), 576 values a token: `[numPages, P, h_kv, 576]`.
    case native
    /// FP8 with one per-tensor scale (FlashInfer's and vLLM's `fp8`): ``ElementType/float8E4M3``
    /// `[numPages, P, h_kv, 576]`; the value a code stands for is `e4m3 · scale`, in Float32
    /// (not rounded to `q`'s type: the CUDA kernel converts the codes exactly and applies
    /// `scale` to the scores and the output). `scale` must be finite and > 0.
    case fp8PerTensor(scale: Float)
    /// DeepSeek-V3.2's FP8 layout, 656 bytes a token, `h_kv = 1`: ``ElementType/uint8`` (or
    /// ``ElementType/float8E4M3`` viewed as bytes) `[numPages, P, 1, 656]`. Bytes 0 ..< 512 are
    /// the E4M3 codes of the 512 NoPE values, bytes 512 ..< 528 four little-endian Float32
    /// scales (one per 128 NoPE values), bytes 528 ..< 656 the 64 RoPE values as little-endian
    /// bf16. NoPE value `i` is `e4m3[i] · scale[i / 128]` (a Float32 product) rounded to `q`'s
    /// type, as FlashMLA rounds it to bf16; a RoPE value is its bf16 rounded to `q`'s type
    /// (exact for bf16). V is the first 512 values.
    case fp8DeepSeek
    /// FlashMLA HEAD's "MODEL1" FP8 layout, sparse decoding only, `d_qk = 512` (so `q` is
    /// `[b, s_q, h_q, 512]`): ``ElementType/uint8`` (or ``ElementType/float8E4M3`` bytes)
    /// `[numPages, P, 1, 584]`, 448 E4M3 NoPE codes with 7 UE8M0 scales and 64 bf16 RoPE values a
    /// token, grouped per page (``Model1Layout``). V is all 512 values, RoPE included; the default
    /// softmax scale is `1/√512`. Only this format takes an extra cache (``SparseIndices/extraKCache``).
    case fp8Model1

    /// Bytes of one token of one KV head in the DeepSeek-V3.2 layout.
    public static let deepSeekTokenBytes = 656
    /// Bytes of E4M3 codes at the start of a DeepSeek-V3.2 token.
    public static let deepSeekNoPEBytes = 512
    /// NoPE values that share one scale in the DeepSeek-V3.2 layout.
    public static let deepSeekGroupSize = 128
    /// The largest page size the library accepts (dimension 1 of the cache).
    public static let maxPageSize = 256

    /// Bytes one token of one KV head occupies.
    public func bytesPerToken(queryType: ElementType) -> Int {
        switch self {
        case .native: DecodeProblem.headDim * queryType.byteCount
        case .fp8PerTensor: DecodeProblem.headDim
        case .fp8DeepSeek: Self.deepSeekTokenBytes
        case .fp8Model1: Model1Layout.tokenBytes
        }
    }

    /// The head dimension of `q` and of the keys, `d_qk`: 512 for ``fp8Model1``, else 576.
    public var queryHeadDim: Int { self == .fp8Model1 ? Model1Layout.headDim : DecodeProblem.headDim }

    /// Whether the cache is addressed a page at a time (``fp8Model1``: each page groups its
    /// tokens' data, then their scales), so that its dimension-1 stride must be its bytes a token.
    public var isPageGrouped: Bool { self == .fp8Model1 }

    /// Whether the cache holds FP8 codes.
    public var isFP8: Bool { self != .native }

    /// The value that multiplies every score and output: the per-tensor scale, else 1.
    public var valueScale: Float {
        if case let .fp8PerTensor(scale) = self { return scale }
        return 1
    }

    /// `native`, `fp8(scale)`, `fp8-ds` or `model1`: the names `flashmla check --kv-format` takes.
    public var description: String {
        switch self {
        case .native: "native"
        case let .fp8PerTensor(scale): "fp8(scale \(scale))"
        case .fp8DeepSeek: "fp8-ds"
        case .fp8Model1: "model1"
        }
    }
}
