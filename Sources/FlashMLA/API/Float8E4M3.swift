// Float8E4M3: the OCP FP8 E4M3 type.
/// An 8-bit OCP FP8 E4M3 value (`float8_e4m3fn` in PyTorch): 1 sign bit, 4 exponent bits
/// (bias 7), 3 mantissa bits.
///
/// There are no infinities: codes `0x7F` and `0xFF` are NaN, so the largest finite magnitude
/// is 448 (`0x7E`). Exponent field 0 holds the subnormals, multiples of 2⁻⁹. Every value
/// converts exactly to `Float`, ``BFloat16`` and `Float16`. Conversion from `Float` rounds to
/// nearest, ties to even, and saturates: finite magnitudes above 448 and infinities become
/// ±448 (the quantizers' convention; a NaN stays NaN).
public struct Float8E4M3: Sendable, Hashable, CustomStringConvertible {
    /// The raw bits.
    public var bitPattern: UInt8

    /// The largest finite magnitude, 448.
    public static let greatestFiniteMagnitude: Float = 448

    /// Creates a value from its raw bits.
    @inlinable
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

    /// Rounds `value` to the nearest E4M3 value (ties to even), saturating to ±448.
    public init(_ value: Float) {
        let sign: UInt8 = value.sign == .minus ? 0x80 : 0
        if value.isNaN {
            bitPattern = sign | 0x7F
            return
        }
        let magnitude = value.magnitude
        if magnitude >= Self.greatestFiniteMagnitude {
            bitPattern = sign | 0x7E
            return
        }
        if magnitude == 0 {
            bitPattern = sign
            return
        }
        // The binade of `magnitude`, never below the subnormals' (2⁻⁶); its step is 2^(e−3).
        var exponent = max(Int(magnitude.exponent), -6)
        let step = Float(sign: .plus, exponent: exponent - 3, significand: 1)
        // Exact: a division by a power of two. Then ties to even.
        var steps = Int((magnitude / step).rounded(.toNearestOrEven))
        if steps == 16 {            // rounded up into the next binade
            exponent += 1
            steps = 8
        }
        if steps < 8 {              // a subnormal (only possible in the lowest binade) or zero
            bitPattern = sign | UInt8(steps)
        } else {
            bitPattern = sign | UInt8((exponent + 7) << 3) | UInt8(steps - 8)
        }
    }

    /// The exact value as a `Float` (NaN for `0x7F` and `0xFF`).
    public var floatValue: Float {
        let exponentField = Int((bitPattern >> 3) & 0xF), mantissa = Int(bitPattern & 7)
        let sign: FloatingPointSign = bitPattern & 0x80 != 0 ? .minus : .plus
        if exponentField == 15 && mantissa == 7 { return sign == .minus ? -.nan : .nan }
        if exponentField == 0 {
            return Float(sign: sign, exponent: -9, significand: Float(mantissa))
        }
        return Float(sign: sign, exponent: exponentField - 7, significand: 1 + Float(mantissa) / 8)
    }

    /// Whether the value is a NaN (`0x7F` or `0xFF`).
    public var isNaN: Bool { bitPattern & 0x7F == 0x7F }

    /// The value printed as a `Float`.
    public var description: String { floatValue.description }
}
