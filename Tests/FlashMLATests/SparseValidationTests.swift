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
