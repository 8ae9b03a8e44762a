// BFloat16: the 16-bit brain floating-point type.
/// A 16-bit brain floating-point value: the upper half of an IEEE `Float`.
///
/// Conversion from `Float` rounds to nearest, ties to even, exactly as CUDA's
/// `__float2bfloat16_rn`; infinities keep their sign and a NaN stays a (quiet) NaN.
public struct BFloat16: Sendable, Hashable, CustomStringConvertible {
    /// The raw bits.
    public var bitPattern: UInt16

    /// Creates a value from its raw bits.
    @inlinable
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounds `value` to the nearest representable `BFloat16` (ties to even).
    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            // Keep the sign and force a quiet-NaN mantissa bit so truncation cannot make it an infinity.
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
            return
        }
        let lsb = (bits >> 16) & 1
        let rounded = bits &+ 0x7FFF &+ lsb
        bitPattern = UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The exact `Float` value.
    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    /// Whether the value is a NaN.
    @inlinable
    public var isNaN: Bool { (bitPattern & 0x7F80) == 0x7F80 && (bitPattern & 0x007F) != 0 }

    /// The value printed as a `Float`.
    public var description: String { floatValue.description }
}

extension Float {
    /// The exact value of a ``BFloat16``.
    @inlinable
    public init(_ value: BFloat16) { self = value.floatValue }
}
