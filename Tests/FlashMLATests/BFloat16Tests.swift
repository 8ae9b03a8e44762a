// Tests of BFloat16.
import Testing
@testable import FlashMLA

/// `BFloat16(Float)` rounds to nearest, ties to even, like CUDA's `__float2bfloat16_rn`.
@Suite struct BFloat16Tests {
    private func rounded(_ bits: UInt32) -> UInt16 { BFloat16(Float(bitPattern: bits)).bitPattern }

    @Test func tiesRoundToEven() {
        #expect(rounded(0x3F80_8000) == 0x3F80)  // tie, even below: down
        #expect(rounded(0x3F81_8000) == 0x3F82)  // tie, odd below: up
        #expect(rounded(0xBF80_8000) == 0xBF80)  // negative tie, even: down in magnitude
        #expect(rounded(0xBF81_8000) == 0xBF82)  // negative tie, odd: up in magnitude
        #expect(rounded(0x3F80_8001) == 0x3F81)  // just above a tie: up
        #expect(rounded(0x3F80_7FFF) == 0x3F80)  // just below a tie: down
        #expect(rounded(0x3F81_7FFF) == 0x3F81)
        #expect(rounded(0x3FFF_8000) == 0x4000)  // a tie that carries into the exponent
        #expect(rounded(0x3F80_0000) == 0x3F80)  // exact
    }

    @Test func overflowAndInfinities() {
        #expect(rounded(0x7F7F_FFFF) == 0x7F80)  // max finite Float rounds to +∞
        #expect(rounded(0xFF7F_FFFF) == 0xFF80)
        #expect(rounded(0x7F7F_7FFF) == 0x7F7F)  // below the tie: the largest finite bfloat16
        #expect(rounded(0x7F7F_8000) == 0x7F80)  // tie with odd mantissa: up to ∞
        #expect(BFloat16(.infinity).bitPattern == 0x7F80)
        #expect(BFloat16(-.infinity).bitPattern == 0xFF80)
        #expect(BFloat16(bitPattern: 0x7F80).floatValue == .infinity)
        #expect(!BFloat16(bitPattern: 0x7F80).isNaN)
    }

    @Test func nanStaysNaN() {
        #expect(BFloat16(.nan).isNaN)
        #expect(BFloat16(-Float.nan).isNaN)
        #expect(BFloat16(.signalingNaN).isNaN)
        let lowPayload = BFloat16(Float(bitPattern: 0x7F80_0001))  // payload only in the dropped bits
        #expect(lowPayload.isNaN && lowPayload.floatValue.isNaN)
        let negativeLowPayload = BFloat16(Float(bitPattern: 0xFF80_FFFF))
        #expect(negativeLowPayload.isNaN && negativeLowPayload.bitPattern & 0x8000 != 0)
        #expect(BFloat16(bitPattern: 0x7F81).isNaN && BFloat16(bitPattern: 0xFFC0).isNaN)
    }

    @Test func zerosAndSubnormals() {
        #expect(rounded(0x0000_0000) == 0x0000)
        #expect(rounded(0x8000_0000) == 0x8000)  // −0 keeps its sign
        #expect(BFloat16(bitPattern: 0x8000).floatValue.sign == .minus)
        #expect(rounded(0x0000_0001) == 0x0000)  // the smallest subnormal rounds to 0
        #expect(rounded(0x0000_8000) == 0x0000)  // tie, even: down
        #expect(rounded(0x0001_8000) == 0x0002)  // tie, odd: up
        #expect(rounded(0x0000_8001) == 0x0001)  // just above a tie
        #expect(rounded(0x0001_0000) == 0x0001)  // the smallest bfloat16 subnormal, exact
        #expect(rounded(0x007F_FFFF) == 0x0080)  // the largest subnormal rounds to the smallest normal
        #expect(rounded(0x807F_8000) == 0x8080)
        #expect(BFloat16(bitPattern: 0x0001).floatValue == Float(bitPattern: 0x0001_0000))
    }

    @Test func everyBitPatternRoundTrips() {
        for bits in UInt16.min ... UInt16.max {
            let value = BFloat16(bitPattern: bits)
            if value.isNaN {
                #expect(BFloat16(value.floatValue).isNaN, "\(bits)")
            } else if BFloat16(value.floatValue).bitPattern != bits {
                Issue.record("0x\(String(bits, radix: 16)) does not round-trip")
            }
            #expect(Float(value).bitPattern == value.floatValue.bitPattern || value.isNaN)
        }
    }
}
