// Tests of Float8E4M3 and FP8Quantizer.
import Testing
@testable import FlashMLA

/// E4M3 against its definition, and the kernels' software conversion modelled bit for bit.
@Suite struct Float8E4M3Tests {
    /// ±2^(e−7)·(1 + m/8), subnormals ±2⁻⁶·m/8, written from the OCP definition.
    static func defined(_ code: UInt8) -> Double {
        let sign = code & 0x80 != 0 ? -1.0 : 1.0, e = Int(code >> 3) & 15, m = Double(code & 7)
        return e == 0 ? sign * m / 8 / 64 : sign * (1 + m / 8) * Double(sign: .plus, exponent: e - 7, significand: 1)
    }

    @Test func everyCodeDecodesToItsValue() {
        for code in 0 ... 255 {
            let value = Float8E4M3(bitPattern: UInt8(code))
            if code & 0x7F == 0x7F {
                #expect(value.isNaN && value.floatValue.isNaN, "code \(code)")
            } else {
                #expect(!value.isNaN && Double(value.floatValue) == Self.defined(UInt8(code)), "code \(code)")
            }
        }
        #expect(Float8E4M3(bitPattern: 0x7E).floatValue == 448 && Float8E4M3(bitPattern: 0xFE).floatValue == -448)
        #expect(Float8E4M3(bitPattern: 0x01).floatValue == 0x1p-9)
        #expect(Float8E4M3(bitPattern: 0x80).floatValue.sign == .minus)
    }

    @Test func everyFiniteCodeRoundTrips() {
        for code in 0 ... 255 where code & 0x7F != 0x7F {
            let value = Float8E4M3(bitPattern: UInt8(code)).floatValue
            #expect(Float8E4M3(value).bitPattern == UInt8(code), "code \(code)")
        }
    }

    @Test func nanStaysNaNWithItsSign() {
        #expect(Float8E4M3(Float.nan).bitPattern == 0x7F)
        #expect(Float8E4M3(-Float.nan).bitPattern == 0xFF)
    }

    @Test func roundsToNearestEven() {
        // Between consecutive positive codes c and c + 1 (same sign): a quarter above c goes down,
        // the midpoint to the even code, three quarters up.
        for code in 0 ..< 0x7E {
            let low = Float8E4M3(bitPattern: UInt8(code)).floatValue, high = Float8E4M3(bitPattern: UInt8(code + 1)).floatValue
            let even = UInt8(code % 2 == 0 ? code : code + 1)
            #expect(Float8E4M3(low + (high - low) / 4).bitPattern == UInt8(code), "code \(code)")
            #expect(Float8E4M3((low + high) / 2).bitPattern == even, "tie above code \(code)")
            #expect(Float8E4M3(-(low + high) / 2).bitPattern == even | 0x80, "negative tie above code \(code)")
            #expect(Float8E4M3(low + 3 * (high - low) / 4).bitPattern == UInt8(code + 1), "code \(code)")
        }
        #expect(Float8E4M3(0x1p-10).bitPattern == 0)              // half the smallest subnormal: to even (0)
        #expect(Float8E4M3(3 * 0x1p-10).bitPattern == 2)          // 1.5 steps: to even (2)
        #expect(Float8E4M3(0x1p-11).bitPattern == 0)
    }

    @Test func saturatesToMaxFinite() {
        for value: Float in [448, 449, 464, 480, 1000, 1e30, .infinity] {
            #expect(Float8E4M3(value).bitPattern == 0x7E, "\(value)")
            #expect(Float8E4M3(-value).bitPattern == 0xFE, "\(-value)")
        }
        #expect(Float8E4M3(447).bitPattern == 0x7E)               // rounds to 448
        #expect(Float8E4M3(431).bitPattern == 0x7D)               // nearer 416 than 448
    }

    /// `e4m3x2_to_f16x2`'s software path in `Kernels/common/fp8.cuh`: code b placed at b << 8, the
    /// exponent and mantissa shifted one bit right into fp16's fields, times 2⁸ in fp16, and the
    /// ±480 of the NaN codes made NaN. Every code must come out as its exact value.
    @Test func kernelSoftwareConversionIsExact() {
        for code in 0 ... 255 {
            let y = UInt16(code) << 8
            let h = (y & 0x8000) | ((y >> 1) & 0x3F80)
            var bits = (Float16(bitPattern: h) * 256).bitPattern
            if bits & 0x7FFF == 0x5F80 { bits |= 0x7E00 }
            let converted = Float16(bitPattern: bits)
            let expected = Float8E4M3(bitPattern: UInt8(code)).floatValue
            if expected.isNaN {
                #expect(converted.isNaN, "code \(code)")
            } else {
                #expect(Float(converted) == expected && Float(converted).sign == expected.sign, "code \(code)")
                // And exactly representable in bf16, the other input type.
                #expect(BFloat16(expected).floatValue == expected, "code \(code)")
            }
        }
    }
}

/// The host quantizers of both FP8 layouts.
@Suite struct FP8QuantizerTests {
    @Test func deepSeekTokenLayout() throws {
        var values = [Float](repeating: 0, count: 576)
        for i in 0 ..< 128 { values[i] = Float(i - 64) / 16 }            // group 0: max |x| = 4
        // group 1 stays zero: scale 0, codes 0
        for i in 256 ..< 384 { values[i] = i == 300 ? -900 : 1 }        // group 2: max |x| = 900
        for i in 384 ..< 512 { values[i] = 0.001 * Float(i - 384) }
        for i in 512 ..< 576 { values[i] = Float(i) / 3 }
        let cache = Tensor(values, as: .float32, shape: [1, 1, 1, 576])
        let quantized = try FP8Quantizer.quantize(cache.view, format: .fp8DeepSeek)
        #expect(quantized.elementType == .uint8 && quantized.shape == [1, 1, 1, 656])
        let bytes = UnsafeRawPointer(quantized.view.hostPointer!)
        func scale(_ group: Int) -> Float { Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 512 + 4 * group, as: UInt32.self)) }
        #expect(scale(0) == 4 / Float(448) && scale(1) == 0 && scale(2) == 900 / Float(448))
        #expect(scale(3) == 0.001 * 127 / Float(448))
        for i in 0 ..< 512 {
            let code = bytes.load(fromByteOffset: i, as: UInt8.self)
            let group = i / 128
            let expected: UInt8 = scale(group) == 0 ? 0 : Float8E4M3(values[i] / scale(group)).bitPattern
            #expect(code == expected, "value \(i)")
        }
        #expect(bytes.load(fromByteOffset: 300, as: UInt8.self) == 0xFE)   // −900 is the group's −448
        for i in 0 ..< 64 {
            #expect(bytes.loadUnaligned(fromByteOffset: 528 + 2 * i, as: UInt16.self) == BFloat16(values[512 + i]).bitPattern)
        }
    }

    @Test func perTensorCodesAndScale() throws {
        let values: [Float] = (0 ..< 2 * 576).map { Float($0 % 97) - 48 }
        let scale = FP8Quantizer.perTensorScale(maxMagnitude: 48)
        #expect(scale == 48 / Float(448))
        #expect(FP8Quantizer.perTensorScale(maxMagnitude: 0) == 1 && FP8Quantizer.perTensorScale(maxMagnitude: .nan) == 1)
        let cache = Tensor(values, as: .bfloat16, shape: [1, 2, 1, 576])
        let quantized = try FP8Quantizer.quantize(cache.view, format: .fp8PerTensor(scale: scale))
        #expect(quantized.elementType == .float8E4M3 && quantized.shape == [1, 2, 1, 576])
        let codes = HostElements(quantized)
        for index in values.indices {
            #expect(codes[offset: index] == Float8E4M3(values[index] / scale).floatValue)
        }
        #expect(throws: MLAError.invalidArgument(argument: "kScale", expected: "finite and > 0", given: "0.0")) {
            _ = try FP8Quantizer.quantize(cache.view, format: .fp8PerTensor(scale: 0))
        }
        #expect(throws: MLAError.self) {
            _ = try FP8Quantizer.quantize(Tensor(hostElementType: .bfloat16, shape: [1, 1, 2, 576]).view, format: .fp8DeepSeek)
        }
    }
}
