// ElementType: the element types a tensor can hold.
/// The element types a tensor of this library can hold.
///
/// Inputs `q` and `kCache` are ``bfloat16`` or ``float16``; `lse` is ``float32``;
/// `blockTable` and `cacheSeqlens` are ``int32``. An FP8 cache (see ``KVCacheFormat``) is
/// ``float8E4M3`` (per-tensor scale) or ``uint8`` bytes (the DeepSeek-V3.2 layout).
public enum ElementType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Brain floating point: 8 exponent bits, 7 mantissa bits (``BFloat16``).
    case bfloat16
    /// IEEE half precision (Swift's `Float16`).
    case float16
    /// IEEE single precision.
    case float32
    /// 32-bit signed integer.
    case int32
    /// OCP FP8 E4M3 (`float8_e4m3fn`): 4 exponent bits, 3 mantissa bits, no infinities
    /// (``Float8E4M3``); the element type of a per-tensor FP8 cache.
    case float8E4M3 = "float8_e4m3"
    /// Unsigned bytes: the element type of a DeepSeek-V3.2 FP8 cache, 656 bytes a token.
    case uint8

    /// The size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .float8E4M3, .uint8: 1
        case .bfloat16, .float16: 2
        case .float32, .int32: 4
        }
    }

    /// Whether this type is one of the 16-bit floating-point input types.
    public var isHalfPrecision: Bool { self == .bfloat16 || self == .float16 }

    /// The name used in error messages and on the command line.
    public var description: String { rawValue }
}
