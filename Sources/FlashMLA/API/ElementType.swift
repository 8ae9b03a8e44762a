/// The element types a tensor of this library can hold.
///
/// Inputs `q` and `kCache` are ``bfloat16`` or ``float16``; `lse` is ``float32``;
/// `blockTable` and `cacheSeqlens` are ``int32``.
public enum ElementType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Brain floating point: 8 exponent bits, 7 mantissa bits (``BFloat16``).
    case bfloat16
    /// IEEE half precision (Swift's `Float16`).
    case float16
    /// IEEE single precision.
    case float32
    /// 32-bit signed integer.
    case int32

    /// The size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .bfloat16, .float16: 2
        case .float32, .int32: 4
        }
    }

    /// Whether this type is one of the 16-bit floating-point input types.
    public var isHalfPrecision: Bool { self == .bfloat16 || self == .float16 }

    /// The name used in error messages and on the command line.
    public var description: String { rawValue }
}
