// Tests of getMLAMetadata's argument checks.
import Testing
@testable import FlashMLA

/// `getMLAMetadata`'s argument checks and the host reading of Int32 views.
@Suite struct MetadataValidationTests {
    private func expectInvalid(_ argument: String, mentioning given: String,
                               cacheSeqlens: TensorView, rowsPerKVHead: Int = 16, kvHeads: Int = 1,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 7)
        let error = #expect(throws: MLAError.self, sourceLocation: sourceLocation) {
            _ = try engine.getMLAMetadata(cacheSeqlens: cacheSeqlens, rowsPerKVHead: rowsPerKVHead,
                                          kvHeads: kvHeads)
        }
        guard case let .invalidArgument(name, _, text)? = error else {
            Issue.record("expected .invalidArgument, got \(String(describing: error))", sourceLocation: sourceLocation)
            return
        }
        #expect(name == argument && text.contains(given), "\(error!)", sourceLocation: sourceLocation)
    }

    @Test func rejectsBadArguments() throws {
        let lengths = Tensor([10, 0, 300], shape: [3])
        let matrix = Tensor([10, 0, 300, 4], shape: [2, 2])
        let floats = Tensor([10, 0, 300], as: .float32, shape: [3])
        let wide = Tensor([10, 0, 300, 0, 7, 0], shape: [6])
        let negative = Tensor([10, -5, 300], shape: [3])
        try expectInvalid("cacheSeqlens", mentioning: "rank 2", cacheSeqlens: matrix.view)
        try expectInvalid("cacheSeqlens", mentioning: "float32", cacheSeqlens: floats.view)
        try expectInvalid("cacheSeqlens", mentioning: "strides [2]",
                          cacheSeqlens: TensorView(elementType: .int32, shape: [3], strides: [2],
                                                   storage: wide.view.storage))
        try expectInvalid("cacheSeqlens", mentioning: "device memory of cuda:0",
                          cacheSeqlens: CallArguments.onDevice(lengths.view))
        try expectInvalid("rowsPerKVHead", mentioning: "0", cacheSeqlens: lengths.view, rowsPerKVHead: 0)
        try expectInvalid("kvHeads", mentioning: "-1", cacheSeqlens: lengths.view, kvHeads: -1)
        try expectInvalid("cacheSeqlens[1]", mentioning: "-5", cacheSeqlens: negative.view)
        withExtendedLifetime([lengths, matrix, floats, wide, negative]) {}
    }

    @Test func metadataMatchesTheSchedule() throws {
        let lengths: [Int32] = [10, 0, 3000]
        let engine = try MLAEngine(backend: .cpu, cpuMultiprocessors: 132)
        let seqlens = Tensor(lengths, shape: [3])
        let metadata = try engine.getMLAMetadata(cacheSeqlens: seqlens.view, rowsPerKVHead: 128, kvHeads: 1)
        withExtendedLifetime(seqlens) {}
        #expect(metadata.shape == MetadataShape(batchSize: 3, rowsPerKVHead: 128, kvHeads: 1, numSMParts: 66))
        let schedule = try #require(metadata.hostSchedule)
        #expect(schedule == TileSchedule(cacheSeqlens: lengths, numSMParts: 66, rowsPerKVHead: 128))
        #expect(Validation.hostInt32(metadata.numSplits) == schedule.numSplits)
        #expect(Validation.hostInt32(metadata.tileSchedulerMetadata) == schedule.int32Encoding)
    }

    @Test func hostInt32HonoursStrides() {
        let backing = Tensor([1, 2, 3, 4, 5, 6], shape: [6])
        let everyOther = TensorView(elementType: .int32, shape: [3], strides: [2], storage: backing.view.storage)
        #expect(Validation.hostInt32(everyOther) == [1, 3, 5])
        let transposed = TensorView(elementType: .int32, shape: [3, 2], strides: [1, 3], storage: backing.view.storage)
        #expect(Validation.hostInt32(transposed) == [1, 4, 2, 5, 3, 6])
        withExtendedLifetime(backing) {}
    }
}
