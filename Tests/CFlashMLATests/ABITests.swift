// Tests of the C ABI: version, last error, argument checks.
import Testing
@testable import CFlashMLA
import FlashMLA
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The C ABI without a GPU: versions, the header, and every argument error, each a clean
/// status code with the library's message (device 999 exists nowhere, so nothing runs).
@Suite struct ABIVersionTests {
    @Test func versions() {
        #expect(flashmla_swift_abi_version() == 1)
        #expect(String(cString: flashmla_swift_version()) == FlashMLAVersion.string)
        #expect(flashmla_swift_version() == flashmla_swift_version())  // one static string
    }

    @Test func headerMatchesTheLibrary() throws {
        let header = try #require(headerText(), "flashmla_swift.h not found beside the sources")
        #expect(header.contains("#define FLASHMLA_SWIFT_ABI_VERSION \(flashmla_swift_abi_version())\n"))
        let statuses: [(String, ABIStatus)] = [("OK", .ok), ("ERROR_INVALID_ARGUMENT", .invalidArgument),
                                               ("ERROR_UNSUPPORTED_DEVICE", .unsupportedDevice),
                                               ("ERROR_BACKEND", .backend), ("ERROR_NO_DEVICE", .noDevice)]
        for (name, status) in statuses {
            #expect(header.contains("#define FLASHMLA_SWIFT_\(name) \(status.rawValue)\n"), "\(name)")
        }
        let types: [(String, Int32)] = [("BFLOAT16", Code.bfloat16), ("FLOAT16", Code.float16),
                                        ("FLOAT32", Code.float32), ("INT32", Code.int32)]
        for (name, code) in types {
            #expect(header.contains("#define FLASHMLA_SWIFT_DTYPE_\(name) \(code)\n"), "\(name)")
            #expect(DTypeCode.elementType(code) != nil)
        }
        #expect(header.contains("#define FLASHMLA_SWIFT_MAX_RANK \(TensorDescriptor.maxRank)\n"))
        for function in ["flashmla_swift_abi_version(void)", "flashmla_swift_version(void)",
                         "flashmla_swift_last_error(void)", "flashmla_swift_num_sm_parts(",
                         "flashmla_swift_validate_metadata(", "flashmla_swift_get_metadata(",
                         "flashmla_swift_get_sparse_metadata(", "flashmla_swift_decode(",
                         "flashmla_swift_decode_kv_sink(", "flashmla_swift_decode_sparse(",
                         "flashmla_swift_validate_decode(", "flashmla_swift_validate_sparse_decode(",
                         "flashmla_swift_workspace_create(", "flashmla_swift_workspace_reserve(",
                         "flashmla_swift_workspace_destroy("] {
            #expect(header.contains(function), "\(function)")
        }
        #expect(header.contains("#define FLASHMLA_SWIFT_DEVICE_CPU (\(Devices.cpu))\n"))
        #expect(TensorDescriptor.byteCount == 144 && TensorDescriptor.stridesOffset == 80)
    }
}

@Suite struct ABILastErrorTests {
    @Test func keptPerThreadAndUntouchedBySuccess() {
        #expect(flashmla_swift_decode(absentDevice, nil, nil, nil, nil, nil, nil, nil, 512, 1, 0, nil, nil, nil)
                == ABIStatus.invalidArgument.rawValue)
        let message = lastError()
        #expect(message == "invalid argument 'q': expected a flashmla_swift_tensor, given NULL")
        _ = flashmla_swift_abi_version()
        _ = flashmla_swift_version()
        #expect(lastError() == message)

        // A thread that has not failed sees "".
        var thread = pthread_t()
        let result = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        defer { result.deallocate() }
        result.pointee = -1
        let created = pthread_create(&thread, nil, { argument in
            let flag = argument!.assumingMemoryBound(to: Int32.self)
            let empty = flashmla_swift_last_error().pointee == 0
            _ = flashmla_swift_workspace_create(0, nil)  // fails on this thread only
            let failed = String(cString: flashmla_swift_last_error()).contains("workspaceOut")
            flag.pointee = empty && failed ? 1 : 0
            return nil
        }, result)
        #expect(created == 0)
        pthread_join(thread, nil)
        #expect(result.pointee == 1)
        #expect(lastError() == message)
    }
}

@Suite struct ABIDecodeArgumentTests {
    private func expectInvalid(_ call: DecodeCall, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        let (status, message) = call.run()
        #expect(status == ABIStatus.invalidArgument.rawValue, "\(message)", sourceLocation: sourceLocation)
        #expect(message.hasPrefix("invalid argument '"), "\(message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(message.contains(fragment), "'\(fragment)' missing from: \(message)", sourceLocation: sourceLocation)
        }
    }

    @Test func validArgumentsOnAnAbsentDeviceReportNoDevice() {
        let (status, message) = DecodeCall().run()
        #expect(status == ABIStatus.noDevice.rawValue, "\(message)")
        #expect(message.contains("no usable CUDA driver") || message.contains("no CUDA device cuda:999"), "\(message)")
    }

    @Test func negativeDevice() {
        var call = DecodeCall()
        call.device = -2   // -1 is FLASHMLA_SWIFT_DEVICE_CPU
        expectInvalid(call, "'device'", "a CUDA device ordinal >= 0, or -1", "given -2")
    }

    @Test func nullDescriptors() {
        for name in ["q", "kCache", "blockTable", "cacheSeqlens", "tileSchedulerMetadata", "numSplits", "out", "lse"] {
            var call = DecodeCall()
            switch name {
            case "q": call.q = nil
            case "kCache": call.kCache = nil
            case "blockTable": call.blockTable = nil
            case "cacheSeqlens": call.cacheSeqlens = nil
            case "tileSchedulerMetadata": call.tileSchedulerMetadata = nil
            case "numSplits": call.numSplits = nil
            case "out": call.out = nil
            default: call.lse = nil
            }
            expectInvalid(call, "'\(name)'", "given NULL")
        }
    }

    @Test func nullDataWithElements() {
        var call = DecodeCall()
        call.kCache = Descriptor(Code.bfloat16, [4, 64, 1, 576], data: 0)
        expectInvalid(call, "'kCache'", "data 0")
    }

    @Test func unknownTypeCodes() {
        for code: Int32 in [0, 7, -1, 99] {
            var call = DecodeCall()
            call.q = Descriptor(code, [2, 1, 16, 576])
            expectInvalid(call, "'q'", "dtype \(code)")
        }
    }

    @Test func descriptorRanksOutOfRange() {
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], rank: 9)
        expectInvalid(call, "'q'", "rank 0...8", "rank 9")
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], rank: -3)
        expectInvalid(call, "'q'", "rank -3")
    }

    @Test func wrongRanks() {
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 16, 576])
        expectInvalid(call, "'q'", "rank 4", "given rank 3")
        call = DecodeCall()
        call.blockTable = Descriptor(Code.int32, [4])
        expectInvalid(call, "'blockTable'", "rank 2")
        call = DecodeCall()
        call.lse = Descriptor(Code.float32, [2, 16])
        expectInvalid(call, "'lse'", "rank 3")
    }

    @Test func extentsAndStridesOutOfRange() {
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, -1, 16, 576], strides: [9216, 9216, 576, 1])
        expectInvalid(call, "'q'", "extent")
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], strides: [9216, 9216, -576, 1])
        expectInvalid(call, "'q'", "stride")
        call.q = Descriptor(Code.bfloat16, [1 << 20, 1 << 20, 1 << 20, 576], strides: [1, 1, 1, 1])
        expectInvalid(call, "'q'", "elements")
    }

    @Test func typeMismatches() {
        var call = DecodeCall()
        call.q = Descriptor(Code.float32, [2, 1, 16, 576])
        expectInvalid(call, "'q'", "bfloat16 or float16", "float32")
        call = DecodeCall()
        call.kCache = Descriptor(Code.float16, [4, 64, 1, 576])
        expectInvalid(call, "'kCache'", "expected bfloat16", "given float16")
        call = DecodeCall()
        call.cacheSeqlens = Descriptor(Code.float32, [2])
        expectInvalid(call, "'cacheSeqlens'", "int32")
        call = DecodeCall()
        call.out = Descriptor(Code.float16, [2, 1, 16, 512])
        expectInvalid(call, "'out'", "bfloat16")
    }

    @Test func shapeMismatches() {
        var call = DecodeCall()
        call.kCache = Descriptor(Code.bfloat16, [4, 257, 1, 576])
        expectInvalid(call, "'kCache'", "page size (dimension 1) in 1...256", "given 257")
        call = DecodeCall()
        call.kCache = Descriptor(Code.bfloat16, [4, 64, 3, 576])
        expectInvalid(call, "'kCache'", "h_kv dividing h_q = 16")
        call = DecodeCall()
        call.out = Descriptor(Code.bfloat16, [2, 1, 16, 576])
        expectInvalid(call, "'out'", "[2, 1, 16, 512]")
        call = DecodeCall()
        call.headDimV = 576
        expectInvalid(call, "'headDimV'", "512", "576")
    }

    @Test func layouts() {
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], strides: [9216, 9216, 1, 16])
        expectInvalid(call, "'q'", "innermost stride 1")
        call = DecodeCall()
        call.out = Descriptor(Code.bfloat16, [2, 1, 16, 512], strides: [16384, 16384, 1024, 1])
        expectInvalid(call, "'out'", "contiguous")
        call = DecodeCall()
        call.lse = Descriptor(Code.float32, [2, 16, 1], strides: [1, 2, 1])
        expectInvalid(call, "'lse'", "contiguous")
        // Padded rows are fine for q (strides multiple of 8) but not when a stride breaks 16-byte alignment.
        call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], strides: [9220, 9220, 577, 1])
        expectInvalid(call, "'q'", "16-byte aligned")
        call = DecodeCall()
        call.kCache = Descriptor(Code.bfloat16, [4, 64, 1, 576], data: 0x7f00_1000_0002)
        expectInvalid(call, "'kCache'", "16-byte aligned")
    }

    @Test func paddedStridesAreAccepted() {
        var call = DecodeCall()
        call.q = Descriptor(Code.bfloat16, [2, 1, 16, 576], strides: [16 * 640, 16 * 640, 640, 1])
        call.kCache = Descriptor(Code.bfloat16, [4, 64, 1, 576], strides: [64 * 1024, 1024, 1024, 1])
        call.blockTable = Descriptor(Code.int32, [2, 2], strides: [7, 1])
        #expect(call.run().status == ABIStatus.noDevice.rawValue)
    }

    @Test func metadataTensors() {
        var call = DecodeCall()
        call.tileSchedulerMetadata = Descriptor(Code.int32, [132, 7])
        expectInvalid(call, "'tileSchedulerMetadata'", "int32[132, 8]", "given int32[132, 7]")
        call.tileSchedulerMetadata = Descriptor(Code.int32, [0, 8])
        expectInvalid(call, "'tileSchedulerMetadata'", "num_sm_parts >= 1")
        call.tileSchedulerMetadata = Descriptor(Code.int32, [132, 8], strides: [16, 1])
        expectInvalid(call, "'tileSchedulerMetadata'", "contiguous")
        call.tileSchedulerMetadata = Descriptor(Code.int32, [132])
        expectInvalid(call, "'tileSchedulerMetadata'", "rank 2")
        call = DecodeCall()
        call.tileSchedulerMetadata = Descriptor(Code.float32, [132, 8])
        expectInvalid(call, "'tileSchedulerMetadata'", "expected int32", "given float32")
        call = DecodeCall()
        call.numSplits = Descriptor(Code.int32, [2])
        expectInvalid(call, "'numSplits'", "int32[3]", "given int32[2]")
        call.numSplits = Descriptor(Code.int32, [3, 1])
        expectInvalid(call, "'numSplits'", "rank 1 [b + 1]")
        call.numSplits = Descriptor(Code.int32, [3], strides: [2])
        expectInvalid(call, "'numSplits'", "contiguous")
    }

    @Test func softmaxScale() {
        for scale: Float in [0, -1, .nan, .infinity] {
            var call = DecodeCall()
            call.softmaxScale = scale
            expectInvalid(call, "'softmaxScale'", "finite and > 0")
        }
    }
}

@Suite struct ABIMetadataArgumentTests {
    @Test func validArgumentsOnAnAbsentDeviceReportNoDevice() {
        let (status, message) = MetadataCall().run()
        #expect(status == ABIStatus.noDevice.rawValue, "\(message)")
        var empty = MetadataCall()
        empty.cacheSeqlens = Descriptor(Code.int32, [0], data: 0)
        empty.numSplits = Descriptor(Code.int32, [1])
        #expect(empty.run().status == ABIStatus.noDevice.rawValue)
    }

    @Test func badArguments() {
        var call = MetadataCall()
        call.cacheSeqlens = Descriptor(Code.int64Like, [3])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'cacheSeqlens'"))

        call = MetadataCall()
        call.cacheSeqlens = Descriptor(Code.float32, [3])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError() == "invalid argument 'cacheSeqlens': expected int32, given float32")

        call = MetadataCall()
        call.cacheSeqlens = Descriptor(Code.int32, [3, 1])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("rank 1"))

        call = MetadataCall()
        call.cacheSeqlens = Descriptor(Code.int32, [3], strides: [2])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("contiguous"))

        call = MetadataCall()
        call.numHeadsK = 0
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'kvHeads'"))

        call = MetadataCall()
        call.numHeadsPerHeadK = Int64.max
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'rowsPerKVHead'"))

        call = MetadataCall()
        call.numSplits = Descriptor(Code.int32, [3])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'numSplits'") && lastError().contains("[4]"))

        call = MetadataCall()
        call.tileSchedulerMetadata = Descriptor(Code.int32, [66, 5])
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'tileSchedulerMetadata'"))

        call = MetadataCall()
        call.tileSchedulerMetadata = nil
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("NULL"))

        call = MetadataCall()
        call.device = -2
        #expect(call.run().status == ABIStatus.invalidArgument.rawValue)
    }

    @Test func numSMParts() {
        var parts: Int64 = -7
        #expect(flashmla_swift_num_sm_parts(absentDevice, 128, 1, nil) == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("numSMPartsOut"))
        #expect(flashmla_swift_num_sm_parts(absentDevice, 0, 1, &parts) == ABIStatus.invalidArgument.rawValue)
        #expect(flashmla_swift_num_sm_parts(absentDevice, 16, -1, &parts) == ABIStatus.invalidArgument.rawValue)
        #expect(flashmla_swift_num_sm_parts(-2, 16, 1, &parts) == ABIStatus.invalidArgument.rawValue)
        #expect(flashmla_swift_num_sm_parts(absentDevice, 16, 1, &parts) == ABIStatus.noDevice.rawValue)
        #expect(parts == -7)  // written on success only
        // The CPU device: FlashMLA's formula over 132 multiprocessors.
        #expect(flashmla_swift_num_sm_parts(-1, 128, 1, &parts) == ABIStatus.ok.rawValue && parts == 66)
        #expect(flashmla_swift_num_sm_parts(-1, 0, 1, &parts) == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'rowsPerKVHead'"))
    }
}

@Suite struct ABIWorkspaceTests {
    @Test func errors() {
        var workspace: OpaquePointer? = nil
        #expect(flashmla_swift_workspace_create(absentDevice, &workspace) == ABIStatus.noDevice.rawValue)
        #expect(workspace == nil)
        #expect(flashmla_swift_workspace_create(-1, &workspace) == ABIStatus.invalidArgument.rawValue)
        #expect(flashmla_swift_workspace_create(0, nil) == ABIStatus.invalidArgument.rawValue)
        #expect(flashmla_swift_workspace_reserve(nil, 10, 10) == ABIStatus.invalidArgument.rawValue)
        #expect(lastError().contains("'workspace'"))
        flashmla_swift_workspace_destroy(nil)
    }
}

extension Code {
    /// A code no version of the header assigns.
    static let int64Like: Int32 = 64
}
