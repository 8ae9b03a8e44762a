// Tests of the sparse decode's argument checks.
import Testing
@testable import FlashMLA

/// Sparse decoding's, the sink's and the schedule object's argument errors: each names the
/// argument and is raised before any output is written.
@Suite struct SparseValidationTests {
    let q = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 576])
    let cache = Tensor(hostElementType: .bfloat16, shape: [3, 64, 1, 576])
    let out = Tensor(hostElementType: .bfloat16, shape: [2, 1, 16, 512])
    let lse = Tensor(hostElementType: .float32, shape: [2, 16, 1])

    func indices(_ values: [Int32]) -> Tensor { Tensor(values, shape: [2, 1, values.count / 2]) }

    /// Runs a sparse call with fresh metadata; returns the error's argument, nil on success. `out` stays NaN on failure.
    func argument(indices: Tensor, topkLength: Tensor? = nil, kCache: TensorView? = nil, kvFormat: KVCacheFormat = .native,
                  attnSink: Tensor? = nil) throws -> String? {
        let engine = try MLAEngine(backend: .cpu)
        let sparse = SparseIndices(indices: indices.view, topkLength: topkLength?.view)
        HostElements(out).fill(.nan)
        do {
            let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: 16)
            try engine.flashMLAWithKVCache(q: q.view, kCache: kCache ?? cache.view, indices: sparse, headDimV: 512,
                                           metadata: metadata, kvFormat: kvFormat, attnSink: attnSink?.view,
                                           out: out.view, lse: lse.view)
            return nil
        } catch {
            let name = Self.argumentName(error)
            #expect(HostElements(out).load().allSatisfy { $0.isNaN }, "out written before the error on \(name ?? "?")")
            return name
        }
    }

    /// The argument an invalid-argument error names, or nil for another error.
    static func argumentName(_ error: MLAError) -> String? {
        if case let .invalidArgument(argument, _, _) = error { return argument }
        return nil
    }

    @Test func indicesOutOfRangeAreNamed() throws {
        let slots = Int32(3 * 64)
        #expect(try argument(indices: indices([0, -1, slots - 1, 5])) == nil)
        #expect(try argument(indices: indices([0, 1, slots, 5])) == "indices[1][0][0]")
        #expect(try argument(indices: indices([0, -2, 4, 5])) == "indices[0][0][1]")
        // Entries past topkLength are not read and not checked.
        #expect(try argument(indices: indices([0, Int32.max, 4, -9]), topkLength: Tensor([1, 1], shape: [2])) == nil)
    }

    @Test func topkLengthOutsideZeroToTopkIsNamed() throws {
        #expect(try argument(indices: indices([0, 1, 2, 3]), topkLength: Tensor([2, 3], shape: [2])) == "topkLength[1]")
        #expect(try argument(indices: indices([0, 1, 2, 3]), topkLength: Tensor([-1, 0], shape: [2])) == "topkLength[0]")
        #expect(try argument(indices: indices([0, 1, 2, 3]), topkLength: Tensor([1, 1, 1], shape: [3])) == "topkLength")
    }

    @Test func cacheOfTheWrongBytesOrHeadsIsNamed() throws {
        let short = Tensor(hostElementType: .uint8, shape: [3, 64, 1, 640])
        #expect(try argument(indices: indices([0, 1, 2, 3]), kCache: short.view, kvFormat: .fp8DeepSeek) == "kCache")
        let twoHeads = Tensor(hostElementType: .bfloat16, shape: [3, 64, 2, 576])
        #expect(try argument(indices: indices([0, 1, 2, 3]), kCache: twoHeads.view) == "kCache")
        let perTensor = Tensor(hostElementType: .float8E4M3, shape: [3, 64, 1, 576])
        #expect(try argument(indices: indices([0, 1, 2, 3]), kCache: perTensor.view, kvFormat: .fp8PerTensor(scale: 1)) == "kvFormat")
    }

    /// A cache whose bytes a token are not the format's (FlashMLA's `KU_CHECK_SHAPE(kv, …, bytes_per_token)`)
    /// or whose type is not the format's is named before any work, whatever the other arguments.
    @Test func cacheOfTheWrongByteSizeOrTypeForItsFormatIsNamed() throws {
        let list = indices([0, 1, 2, 3])
        for (shape, type, format) in [([3, 64, 1, 657], ElementType.uint8, KVCacheFormat.fp8DeepSeek),  // one byte too many
                                      ([3, 64, 1, 576], .uint8, .fp8DeepSeek),                        // native's count, as bytes
                                      ([3, 64, 1, 328], .bfloat16, .fp8DeepSeek),                     // 656 bytes, but bf16
                                      ([3, 64, 1, 656], .bfloat16, .native),                          // 1312 bytes a token
                                      ([3, 64, 1, 656], .uint8, .native),                             // an fp8-ds cache as native
                                      ([3, 64, 1, 512], .bfloat16, .native)] {                        // no RoPE part
            let cache = Tensor(hostElementType: type, shape: shape)
            #expect(try argument(indices: list, kCache: cache.view, kvFormat: format) == "kCache", "\(type) \(shape) as \(format)")
        }
        let good = Tensor(hostElementType: .uint8, shape: [3, 64, 1, 656])
        #expect(try argument(indices: list, kCache: good.view, kvFormat: .fp8DeepSeek) == nil)
    }

    /// FlashMLA HEAD does not check `topk_length` on the host (its kernels read past the list
    /// when a length exceeds topk); here a host-readable length above topk is an error naming the
    /// entry, in the metadata call as in the decode call, before any work. (On CUDA, where the
    /// lengths live in device memory, the scheduler clamps them and flags `FMLA_ERR_SEQLEN`,
    /// reported by `Workspace.takeErrors()`.)
    @Test func topkLengthAboveTopkFailsTheMetadataCallToo() throws {
        let engine = try MLAEngine(backend: .cpu)
        let list = indices([0, 1, 2, 3]), lengths = Tensor([2, 3], shape: [2])
        var named: String?
        do {
            _ = try engine.getMLAMetadata(sparse: SparseIndices(indices: list.view, topkLength: lengths.view), queryRows: 16)
        } catch {
            named = Self.argumentName(error)
        }
        #expect(named == "topkLength[1]")
        withExtendedLifetime((list, lengths)) {}
    }

    @Test func attnSinkOfTheWrongShapeOrTypeIsNamed() throws {
        #expect(try argument(indices: indices([0, 1, 2, 3]), attnSink: Tensor(hostElementType: .float32, shape: [8])) == "attnSink")
        #expect(try argument(indices: indices([0, 1, 2, 3]), attnSink: Tensor(hostElementType: .bfloat16, shape: [16])) == "attnSink")
    }

    @Test func aScheduleReusedWithOtherShapesIsNamed() throws {
        let engine = try MLAEngine(backend: .cpu)
        let schedule = MLASchedule()
        let narrow = indices([0, 1, 2, 3]), wider = indices([0, 1, 2, 3, 4, 5]), bad = indices([0, 999, 2, 3])
        _ = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, indices: SparseIndices(indices: narrow.view),
                                           headDimV: 512, schedule: schedule)
        #expect(schedule.configuration?.topk == 2 && schedule.metadata != nil)
        var named: String?, given = ""
        do {
            _ = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, indices: SparseIndices(indices: wider.view),
                                               headDimV: 512, schedule: schedule)
        } catch {
            named = Self.argumentName(error)
            given = error.description
        }
        #expect(named == "schedule" && given.contains("topk=3"))
        // Other batch, heads, cache format, or a dense call: each names the schedule, before any work.
        let threeRequests = Tensor([Int32](repeating: 1, count: 6), shape: [3, 1, 2])
        let q3 = Tensor(hostElementType: .bfloat16, shape: [3, 1, 16, 576]), q8 = Tensor(hostElementType: .bfloat16, shape: [2, 1, 8, 576])
        let fp8Cache = Tensor(hostElementType: .uint8, shape: [3, 64, 1, 656])
        let table = Tensor([Int32](repeating: 0, count: 2), shape: [2, 1]), seqlens = Tensor([Int32](repeating: 10, count: 2), shape: [2])
        let calls: [(String, () throws(MLAError) -> Void)] = [
            ("b", { () throws(MLAError) in _ = try engine.flashMLAWithKVCache(q: q3.view, kCache: cache.view, indices: SparseIndices(indices: threeRequests.view),
                                                       headDimV: 512, schedule: schedule) }),
            ("h_q", { () throws(MLAError) in _ = try engine.flashMLAWithKVCache(q: q8.view, kCache: cache.view, indices: SparseIndices(indices: narrow.view),
                                                         headDimV: 512, schedule: schedule) }),
            ("kvFormat", { () throws(MLAError) in _ = try engine.flashMLAWithKVCache(q: q.view, kCache: fp8Cache.view, indices: SparseIndices(indices: narrow.view),
                                                              headDimV: 512, schedule: schedule, kvFormat: .fp8DeepSeek) }),
            ("dense", { () throws(MLAError) in _ = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, blockTable: table.view, cacheSeqlens: seqlens.view,
                                                           headDimV: 512, schedule: schedule) }),
        ]
        for (what, call) in calls {
            named = nil
            do { try call() } catch { named = Self.argumentName(error) }
            #expect(named == "schedule", "a call of another \(what)")
        }
        #expect(schedule.configuration?.topk == 2 && schedule.configuration?.batchSize == 2)
        withExtendedLifetime((threeRequests, q3, q8, fp8Cache, table, seqlens)) {}
        // An unfilled schedule stays empty after a call that fails validation.
        let fresh = MLASchedule()
        named = nil
        do {
            _ = try engine.flashMLAWithKVCache(q: q.view, kCache: cache.view, indices: SparseIndices(indices: bad.view),
                                               headDimV: 512, schedule: fresh)
        } catch {
            named = Self.argumentName(error)
        }
        #expect(named == "indices[0][0][1]")
        #expect(fresh.configuration == nil && fresh.metadata == nil)
        withExtendedLifetime((narrow, wider, bad)) {}
    }
}
