// InputRandom: the seeded generator behind every random check and benchmark input.
import Foundation

/// xoshiro256**: a fast, seedable generator for check and benchmark inputs (state filled by SplitMix64
/// steps from the seed, so nearby seeds give unrelated streams).
public struct InputRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator for `seed`.
    public init(seed: UInt64) {
        var x = seed
        func mix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = mix(); s1 = mix(); s2 = mix(); s3 = mix()
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Roughly standard normal: the sum of the four 16-bit uniforms of one draw, centred and
    /// scaled to variance 1 (support ±2√3·… ≈ ±3.46).
    @inline(__always)
    public mutating func normalish() -> Float {
        let bits = next()
        let sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48)
        // Each uniform has mean 32767.5 and variance 65536²/12; the sum has variance 65536²/3.
        return (Float(sum) - 131_070) * (1.7320508 / 65536)
    }

    /// A standard normal value (Box–Muller).
    public mutating func gaussian() -> Double {
        let u1 = (Double(next() >> 11) + 1) / 9_007_199_254_740_992  // (0, 1]
        let u2 = Double(next() >> 11) / 9_007_199_254_740_992
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
