// Tests of flashmla_swift_decode_kv: FP8 type codes and page sizes, without a GPU.
import Testing
@testable import CFlashMLA
import FlashMLA

/// `flashmla_swift_decode_kv`, the FP8 type codes and page sizes other than 64, without a GPU:
/// accepted calls end in no-device on the absent device, rejected ones name the argument.
@Suite struct ABIKVFormatTests {
    private func expectInvalid(_ call: DecodeCall, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        let (status, message) = call.run()
        #expect(status == ABIStatus.invalidArgument.rawValue, "\(message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(message.contains(fragment), "'\(fragment)' missing from: \(message)", sourceLocation: sourceLocation)
        }
    }

    private func expectAccepted(_ call: DecodeCall, sourceLocation: SourceLocation = #_sourceLocation) {
        let (status, message) = call.run()
        #expect(status == ABIStatus.noDevice.rawValue, "\(message)", sourceLocation: sourceLocation)
    }

    /// The default call with a per-tensor FP8 cache of `pageSize`-token pages.
    private func perTensor(pageSize: Int = 64, scale: Float = 0.5) -> DecodeCall {
        var call = DecodeCall()
        call.kCache = Descriptor(Code.float8E4M3, [4, pageSize, 1, 576], data: 0x7f00_1000_0000)
        call.kvFormat = 1
        call.kScale = scale
        return call
    }

    /// The default call with a DeepSeek-V3.2 cache.
    private func deepSeek(code: Int32 = Code.uint8, shape: [Int] = [4, 64, 1, 656]) -> DecodeCall {
        var call = DecodeCall()
        call.kCache = Descriptor(code, shape, data: 0x7f00_1000_0000)
        call.kvFormat = 2
        return call
    }

    @Test func headerDeclaresTheFormats() throws {
        let header = try #require(headerText())
        for (name, code) in [("DTYPE_FLOAT8_E4M3", Code.float8E4M3), ("DTYPE_UINT8", Code.uint8),
                             ("KV_NATIVE", 0), ("KV_FP8_E4M3", 1), ("KV_FP8_DS_MLA", 2)] {
            #expect(header.contains("#define FLASHMLA_SWIFT_\(name) \(code)\n"), "\(name)")
        }
        #expect(header.contains("int flashmla_swift_decode_kv("))
        #expect(DTypeCode.elementType(Code.float8E4M3) == .float8E4M3 && DTypeCode.elementType(Code.uint8) == .uint8)
    }

    @Test func acceptedFormatsAndPageSizes() {
        for pageSize in [1, 16, 48, 64, 256] {
            var native = DecodeCall()
            native.kCache = Descriptor(Code.bfloat16, [4, pageSize, 1, 576], data: 0x7f00_1000_0000)
            native.blockTable = Descriptor(Code.int32, [2, 200], data: 0x7f00_2000_0000)
            expectAccepted(native)
            native.kvFormat = 0
            expectAccepted(native)
            expectAccepted(perTensor(pageSize: pageSize))
            expectAccepted(deepSeek(shape: [4, pageSize, 1, 656]))
        }
        expectAccepted(deepSeek(code: Code.float8E4M3))   // FP8 tensors viewed as bytes
    }

    @Test func pageSizesOutsideTheRange() {
        for pageSize in [0, 257, 1024] {
            expectInvalid(perTensor(pageSize: pageSize), "'kCache'", "1...256", "given \(pageSize)")
        }
    }

    @Test func unknownFormat() {
        var call = perTensor()
        call.kvFormat = 4
        expectInvalid(call, "'kvFormat'", "0 (native), 1 (fp8_e4m3), 2 (fp8_ds_mla) or 3 (model1)", "given 4")
        // MODEL1 (3) is a known format, refused for dense decoding.
        call.kvFormat = 3
        expectInvalid(call, "'kvFormat'", "model1 is sparse only", "given model1")
    }

    @Test func perTensorScaleMustBeFiniteAndPositive() {
        for scale: Float in [0, -1, .nan, .infinity] {
            expectInvalid(perTensor(scale: scale), "'kScale'", "finite and > 0")
        }
    }

    @Test func cacheTypeMustMatchTheFormat() {
        var call = perTensor()
        call.kCache = Descriptor(Code.bfloat16, [4, 64, 1, 576])
        expectInvalid(call, "'kCache'", "expected float8_e4m3", "given bfloat16")
        call = DecodeCall()
        call.kCache = Descriptor(Code.float8E4M3, [4, 64, 1, 576])
        expectInvalid(call, "'kCache'", "expected bfloat16", "given float8_e4m3")
        expectInvalid(deepSeek(code: Code.bfloat16, shape: [4, 64, 1, 328]), "'kCache'", "uint8")
    }

    @Test func bytesPerTokenMustMatchTheFormat() {
        var call = perTensor()
        call.kCache = Descriptor(Code.float8E4M3, [4, 64, 1, 656])
        expectInvalid(call, "'kCache'", "576 elements (576 bytes) a token", "given 656 bytes")
        expectInvalid(deepSeek(shape: [4, 64, 1, 576]), "'kCache'", "656 elements (656 bytes) a token", "given 576 bytes")
    }

    @Test func deepSeekNeedsOneKVHead() {
        var call = deepSeek(shape: [4, 64, 2, 656])
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576])
        expectInvalid(call, "'kCache'", "h_kv = 1")
    }

    @Test func fp8StridesAreCountedInBytes() {
        var call = perTensor()
        call.kCache = Descriptor(Code.float8E4M3, [4, 64, 1, 576], strides: [64 * 584, 584, 584, 1])
        expectInvalid(call, "'kCache'", "16-byte aligned", "16 elements")
        call.kCache = Descriptor(Code.float8E4M3, [4, 64, 1, 576], strides: [64 * 592, 592, 592, 1])
        expectAccepted(call)
        // Token strides past 2³¹ − 1 bytes: the paged and FP8 kernels address inside a page in 32 bits.
        call.kCache = Descriptor(Code.float8E4M3, [4, 2, 1, 576], strides: [1 << 33, 1 << 31, 576, 1])
        expectInvalid(call, "'kCache'", "at most 2147483647 bytes", "2147483648 bytes")
    }
}
