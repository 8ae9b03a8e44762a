// Model1Layout: where FlashMLA HEAD's "MODEL1" cache keeps each token's bytes inside its page.
/// The byte layout of FlashMLA HEAD's "MODEL1" FP8 cache (``KVCacheFormat/fp8Model1``),
/// `d_qk = 512`: per token 448 E4M3 NoPE codes, 64 bf16 RoPE values and 7 UE8M0 scales (one per
/// 64 NoPE values) plus one padding byte, 584 bytes, grouped **per page** rather than per token.
///
/// A page of `P` tokens, from its first byte (`page · pageStride`):
/// - token `t`'s 576 data bytes at `t · 576`: the 448 codes (dims 0 ..< 448), then the 64 RoPE
///   values as little-endian bf16 (dims 448 ..< 512);
/// - token `t`'s 8 scale bytes at `P · 576 + t · 8`: byte `i < 7` scales NoPE dims `64i ..< 64i + 64`
///   by `2^(byte − 127)` (255 is NaN), byte 7 is padding.
///
/// So the cache tensor `[numPages, P, 1, 584]` (its dimension-1 stride 584 bytes) only sizes the
/// page: row `t` of that view is not token `t`. The value of NoPE dim `d` is
/// `e4m3[d] · 2^(scale[d / 64] − 127)` rounded to `q`'s type (bf16: FlashMLA's
/// `bf16(bf16(fp8) · bf16(scale))`, the same number); V is all 512 values, RoPE included.
public enum Model1Layout {
    /// The query and key head dimension, `d_qk` (448 NoPE + 64 RoPE); V has the same 512.
    public static let headDim = 512
    /// NoPE values (E4M3 codes) a token.
    public static let nopeDims = 448
    /// RoPE values (bf16) a token.
    public static let ropeDims = 64
    /// NoPE values that share one UE8M0 scale.
    public static let groupSize = 64
    /// Scales a token: `nopeDims / groupSize`.
    public static let scalesPerToken = 7
    /// The data bytes of one token (codes, then RoPE), and their distance between tokens of a page.
    public static let dataBytes = 576
    /// The scale bytes of one token (7 scales and one padding byte).
    public static let scaleBytes = 8
    /// Bytes one token takes in its page, the cache's last dimension: `576 + 8`.
    public static let tokenBytes = dataBytes + scaleBytes

    /// The byte offset, from its page's first byte, of slot `slot`'s data (codes, then RoPE).
    @inlinable
    public static func dataOffset(slot: Int) -> Int { slot * dataBytes }

    /// The byte offset, from its page's first byte, of slot `slot`'s 8 scale bytes in a page of
    /// `pageSize` tokens.
    @inlinable
    public static func scaleOffset(slot: Int, pageSize: Int) -> Int { pageSize * dataBytes + slot * scaleBytes }

    /// The factor a UE8M0 scale byte stands for: `2^(byte − 127)`, NaN for 255.
    @inlinable
    public static func scaleValue(_ byte: UInt8) -> Float {
        byte == 255 ? .nan : Float(sign: .plus, exponent: Int(byte) - 127, significand: 1)
    }

    /// The page stride (in bytes) of the caches the quantizer makes: `P · 584` rounded up to a
    /// multiple of 576, as FlashMLA's `tests/quant.py` pads them (so every page starts 16-byte aligned).
    public static func paddedPageBytes(pageSize: Int) -> Int {
        (pageSize * tokenBytes + dataBytes - 1) / dataBytes * dataBytes
    }
}
