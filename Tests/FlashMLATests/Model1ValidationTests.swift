// Tests of the MODEL1 format's and the extra cache's argument checks.
import Testing
@testable import FlashMLA

/// The argument errors of MODEL1 sparse calls (`d_qk = 512`, 584-byte page-grouped tokens) and
/// of the extra cache: each names the argument, says what was expected and what was given, and is
/// raised before any output is written.
@Suite struct Model1ValidationTests {
    let q = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 512])
    let cache = Tensor(hostElementType: .uint8, shape: [3, 64, 1, 584])
    let extraCache = Tensor(hostElementType: .uint8, shape: [4, 2, 1, 584])
    let out = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 512])
    let lse = Tensor(hostElementType: .float32, shape: [2, 16, 1])
    let list = Tensor([0, 1, 2, 3], shape: [2, 1, 2])
    let extraList = Tensor([0, 7, -1, 3, 5, 6], shape: [2, 1, 3])

    /// A sparse MODEL1 call's error, or nil on success; `out` must stay NaN on failure.
    /// `keeping` holds tensors whose views the call reads (an argument lives for the whole call).
    func error(q: TensorView? = nil, kCache: TensorView? = nil, kvFormat: KVCacheFormat = .fp8Model1,
               _ sparse: SparseIndices? = nil, keeping: [Tensor] = []) throws -> MLAError? {
        defer { withExtendedLifetime(keeping) {} }
        let engine = try MLAEngine(backend: .cpu)
        let sparse = sparse ?? SparseIndices(indices: list.view)
        HostElements(out).fill(.nan)
        do {
            let inputs = try engine.validate(q: q ?? self.q.view, kCache: kCache ?? cache.view, indices: sparse,
                                             headDimV: 512, kvFormat: kvFormat)
            let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: 16)
            try engine.flashMLAWithKVCache(DecodeProblem(inputs, metadata: metadata, out: out.view, lse: lse.view))
            return nil
        } catch {
            #expect(HostElements(out).load().allSatisfy { $0.isNaN }, "out written before \(error)")
            return error
        }
    }

    func argument(q: TensorView? = nil, kCache: TensorView? = nil, kvFormat: KVCacheFormat = .fp8Model1,
                  _ sparse: SparseIndices? = nil, keeping: [Tensor] = []) throws -> String? {
        guard case let .invalidArgument(argument, _, _)? = try error(q: q, kCache: kCache, kvFormat: kvFormat, sparse,
                                                                     keeping: keeping) else {
            return nil
        }
        return argument
    }

    @Test func model1AcceptsItsShapes() throws {
        #expect(try argument() == nil)
        let lengths = Tensor([3, 0], shape: [2])
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: extraList.view,
                                           extraTopkLength: lengths.view), keeping: [lengths]) == nil)
    }

    /// `d_qk = 512` is MODEL1: a 512-wide q with another format, a 576-wide q with MODEL1, and a
    /// MODEL1 dense call are refused.
    @Test func queryWidthAndFormatMustAgree() throws {
        let wide = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 576])
        #expect(try argument(q: wide.view) == "q")
        let native = Tensor(hostElementType: .bfloat16, shape: [3, 64, 1, 576])
        guard case let .invalidArgument(argument, expected, given)? = try error(kCache: native.view, kvFormat: .native) else {
            Issue.record("a 512-wide q with a native cache was accepted")
            return
        }
        #expect(argument == "q" && expected.contains("576") && expected.contains("fp8Model1") && given.contains("512"))
        let engine = try MLAEngine(backend: .cpu)
        #expect(throws: MLAError.self) {
            _ = try engine.validate(q: self.q.view, kCache: self.cache.view, blockTable: Tensor([0, 0], shape: [2, 1]).view,
                                    cacheSeqlens: Tensor([1, 1], shape: [2]).view, headDimV: 512, kvFormat: .fp8Model1)
        }
    }

    /// A cache of the wrong bytes a token, type or heads, or whose pages are not whole.
    @Test func cacheOfTheWrongBytesIsNamedWithBothSizes() throws {
        let v32 = Tensor(hostElementType: .uint8, shape: [3, 64, 1, 656])
        guard case let .invalidArgument(argument, expected, given)? = try error(kCache: v32.view) else {
            Issue.record("a 656-byte cache was accepted as MODEL1")
            return
        }
        #expect(argument == "kCache" && expected.contains("584") && given.contains("656"))
        for (shape, type) in [([3, 64, 1, 585], ElementType.uint8), ([3, 64, 1, 292], .bfloat16), ([3, 64, 2, 584], .uint8)] {
            let bad = Tensor(hostElementType: type, shape: shape)
            #expect(try self.argument(kCache: bad.view) == "kCache", "\(type) \(shape)")
        }
        let storage = Tensor(hostElementType: .uint8, shape: [3 * 64 * 600])
        let strided = TensorView(elementType: .uint8, shape: [3, 64, 1, 584], strides: [64 * 600, 600, 600, 1],
                                 storage: storage.view.storage)
        #expect(try self.argument(kCache: strided) == "kCache")
        let overlapping = TensorView(elementType: .uint8, shape: [3, 64, 1, 584], strides: [584, 584, 584, 1],
                                     storage: storage.view.storage)
        #expect(try self.argument(kCache: overlapping) == "kCache")
        let padded = TensorView(elementType: .uint8, shape: [3, 64, 1, 584], strides: [600 * 64, 584, 584, 1],
                                storage: storage.view.storage)
        #expect(try self.argument(kCache: padded) == nil)
    }

    @Test func extraListsWithoutAnExtraCacheAreRefused() throws {
        #expect(try argument(SparseIndices(indices: list.view, extraIndices: extraList.view)) == "extraIndices")
        let lengths = Tensor([1, 1], shape: [2])
        #expect(try argument(SparseIndices(indices: list.view, extraTopkLength: lengths.view), keeping: [lengths])
                == "extraTopkLength")
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view)) == "extraIndices")
    }

    @Test func extraCacheOnlyWithModel1() throws {
        let wide = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 576])
        let native = Tensor(hostElementType: .bfloat16, shape: [3, 64, 1, 576])
        let nativeExtra = Tensor(hostElementType: .bfloat16, shape: [3, 64, 1, 576])
        #expect(try argument(q: wide.view, kCache: native.view, kvFormat: .native,
                             SparseIndices(indices: list.view, extraKCache: nativeExtra.view, extraIndices: extraList.view))
                == "extraKCache")
    }

    @Test func extraShapesAndContentsAreNamed() throws {
        let short = Tensor(hostElementType: .uint8, shape: [4, 2, 1, 576])
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: short.view, extraIndices: extraList.view))
                == "extraKCache")
        let wrongBatch = Tensor([0, 1, 2], shape: [1, 1, 3])
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: wrongBatch.view),
                             keeping: [wrongBatch]) == "extraIndices")
        // Slot 8 is past the extra cache's 4 · 2 slots, though it is within the main cache's.
        let outside = Tensor([0, 8, -1, 3, 5, 6], shape: [2, 1, 3])
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: outside.view),
                             keeping: [outside]) == "extraIndices[0][0][1]")
        // Past extraTopkLength an entry is neither read nor checked.
        let (one, four, three) = (Tensor([1, 3], shape: [2]), Tensor([4, 0], shape: [2]), Tensor([1, 1, 1], shape: [3]))
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: outside.view,
                                           extraTopkLength: one.view), keeping: [outside, one]) == nil)
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: extraList.view,
                                           extraTopkLength: four.view), keeping: [four]) == "extraTopkLength[0]")
        #expect(try argument(SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: extraList.view,
                                           extraTopkLength: three.view), keeping: [three]) == "extraTopkLength")
    }

    @Test func topkLengthAboveTopkIsNamed() throws {
        let lengths = Tensor([3, 1], shape: [2])
        guard case let .invalidArgument(argument, expected, given)? =
                try error(SparseIndices(indices: list.view, topkLength: lengths.view), keeping: [lengths]) else {
            Issue.record("topkLength 3 > topk 2 was accepted")
            return
        }
        #expect(argument == "topkLength[0]" && expected.contains("0...2") && given == "3")
    }

    /// The schedule counts the main list padded to 64-entry blocks, then the extra entries.
    @Test func scheduledLengthPadsTheMainList() {
        #expect(SparseIndices.scheduledLength(topkLength: 5, extraTopkLength: nil) == 5)
        #expect(SparseIndices.scheduledLength(topkLength: 0, extraTopkLength: 3) == 67)
        #expect(SparseIndices.scheduledLength(topkLength: 64, extraTopkLength: 0) == 64)
        #expect(SparseIndices.scheduledLength(topkLength: 65, extraTopkLength: 10) == 138)
    }

    /// A schedule made for the main lists only does not fit a call with an extra cache.
    @Test func metadataMustCountTheExtraLists() throws {
        let engine = try MLAEngine(backend: .cpu)
        let withExtra = SparseIndices(indices: list.view, extraKCache: extraCache.view, extraIndices: extraList.view)
        let mainOnly = try engine.getMLAMetadata(sparse: SparseIndices(indices: list.view), queryRows: 16)
        let inputs = try engine.validate(q: q.view, kCache: cache.view, indices: withExtra, headDimV: 512, kvFormat: .fp8Model1)
        #expect(throws: MLAError.self) { try inputs.checkMetadata(mainOnly) }
        try inputs.checkMetadata(engine.getMLAMetadata(sparse: withExtra, queryRows: 16))
    }

    @Test func defaultScaleIsOneOverRootOf512() throws {
        let engine = try MLAEngine(backend: .cpu)
        let inputs = try engine.validate(q: q.view, kCache: cache.view, indices: SparseIndices(indices: list.view),
                                         headDimV: 512, kvFormat: .fp8Model1)
        #expect(inputs.softmaxScale == 1 / Float(512).squareRoot())
        #expect(inputs.queryHeadDim == 512)
    }

    /// On CUDA only the base and page stride of a MODEL1 cache must be 16-byte multiples (its
    /// 584-byte dimension-1 stride is not), for the main and the extra cache alike.
    @Test func cudaAlignmentCountsOnlyThePageStride() throws {
        func device(_ type: ElementType, _ shape: [Int], _ address: UInt64, strides: [Int]? = nil) -> TensorView {
            TensorView(elementType: type, shape: shape, strides: strides, storage: .device(ordinal: 0, address: address))
        }
        func validate(pageStride: Int, extraPageStride: Int) -> String? {
            let sparse = SparseIndices(indices: device(.int32, [2, 1, 64], 0x4000),
                                       extraKCache: device(.uint8, [3, 2, 1, 584], 0x20000, strides: [extraPageStride, 584, 584, 1]),
                                       extraIndices: device(.int32, [2, 1, 8], 0x5000))
            do {
                _ = try DecodeInputs(q: device(.bfloat16, [2, 1, 64, 512], 0x3000),
                                     kCache: device(.uint8, [4, 61, 1, 584], 0x10000, strides: [pageStride, 584, 584, 1]),
                                     indices: sparse, headDimV: 512, kvFormat: .fp8Model1, backend: .cuda(device: 0))
                return nil
            } catch {
                guard case let .invalidArgument(argument, _, _) = error else { return "?" }
                return argument
            }
        }
        #expect(validate(pageStride: Model1Layout.paddedPageBytes(pageSize: 61), extraPageStride: 1728) == nil)
        #expect(validate(pageStride: 61 * 584, extraPageStride: 1728) == "kCache")       // 35,624: not a multiple of 16
        #expect(validate(pageStride: Model1Layout.paddedPageBytes(pageSize: 61), extraPageStride: 1176) == "extraKCache")
    }
}
