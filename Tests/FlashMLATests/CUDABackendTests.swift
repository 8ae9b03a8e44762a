// Tests of the CUDA backend against the Float64 reference (need a GPU).
import CUDADriver
import Testing
import FlashMLATesting
@testable import FlashMLA

/// Whether this machine can run the CUDA backend: a driver, a GPU of compute capability 8.0
/// or newer, and NVRTC.
private let cudaUsable = Backend.automatic() != .cpu

/// The CUDA backend against the Float64 reference. These run where a GPU and a Swift toolchain
/// meet; on the GPU machine of this project (no Swift) `flashmla check --backend cuda` runs the
/// same comparisons, and more.
@Suite("CUDA backend", .enabled(if: cudaUsable, "needs a CUDA driver, a GPU of compute capability 8.0+ and NVRTC"))
struct CUDABackendTests {
    static let specs = [
        ProblemConfig(cacheSeqlens: [0, 1, 63, 64, 65, 300], queryLength: 2, queryHeads: 16, kvHeads: 1, causal: true,
                    elementType: .bfloat16),
        ProblemConfig(cacheSeqlens: [130, 1000, 7], queryLength: 1, queryHeads: 128, kvHeads: 1, causal: false,
                    elementType: .float16),
        ProblemConfig(cacheSeqlens: [500, 64, 0], queryLength: 3, queryHeads: 8, kvHeads: 2, causal: true,
                    elementType: .bfloat16),
    ]

    @Test(arguments: specs)
    func matchesTheReference(spec: ProblemConfig) throws {
        var generator = SeededGenerator.fresh()
        let problem = RandomProblem(spec, using: &generator)
        let engine = try MLAEngine(backend: .cuda(device: 0))
        let cuda = try #require(engine.cudaBackend)
        let q = try cuda.upload(problem.q.view), kCache = try cuda.upload(problem.kCache.view)
        let table = try cuda.upload(problem.blockTable.view), seqlens = try cuda.upload(problem.cacheSeqlens.view)
        let metadata = try engine.getMLAMetadata(cacheSeqlens: seqlens.view,
                                                 rowsPerKVHead: spec.rowsPerKVHead,
                                                 kvHeads: spec.kvHeads)

        // The device computed the host's schedule, field for field.
        let encoded = HostElements(try cuda.download(metadata.tileSchedulerMetadata))
        let splits = HostElements(try cuda.download(metadata.numSplits))
        let deviceSchedule = TileSchedule(
            int32Encoding: (0 ..< metadata.tileSchedulerMetadata.elementCount).map { encoded.int32(offset: $0) },
            numSplits: (0 ..< metadata.numSplits.elementCount).map { splits.int32(offset: $0) })
        #expect(deviceSchedule == TileSchedule(cacheSeqlens: spec.cacheSeqlens, numSMParts: metadata.shape.numSMParts,
                                                        rowsPerKVHead: metadata.shape.rowsPerKVHead),
                "\(spec), seed \(generator.seed)")

        let out = try cuda.allocate(elementType: spec.elementType, shape: [spec.batchSize, spec.queryLength, spec.queryHeads, 512])
        let lse = try cuda.allocate(elementType: .float32, shape: [spec.batchSize, spec.queryHeads, spec.queryLength])
        for tensor in [out, lse] {   // 0xFF bytes: NaN in every element type
            try DeviceMemory.fill(address: tensor.view.deviceAddress!,
                                  byteCount: tensor.view.elementCount * tensor.view.elementType.byteCount,
                                  byte: 0xFF, device: cuda.device)
        }
        try engine.flashMLAWithKVCache(q: q.view, kCache: kCache.view, blockTable: table.view, cacheSeqlens: seqlens.view,
                                       headDimV: 512, metadata: metadata, causal: spec.causal, out: out.view, lse: lse.view)
        let outValues = HostElements(try cuda.download(out.view)).load().map(Double.init)
        let lseValues = HostElements(try cuda.download(lse.view)).load().map(Double.init)
        #expect(try cuda.workspace.takeErrors().isEmpty, "\(spec), seed \(generator.seed)")

        let reference = ReferenceAttention(problem: problem, softmaxScale: 1 / 24).allRows()
        #expect(!outValues.contains { !$0.isFinite }, "out has NaN or ∞: \(spec), seed \(generator.seed)")
        #expect(Comparison.cosDiff(outValues, reference.out) < 1e-5, "\(spec), seed \(generator.seed)")
        for (value, expected) in zip(lseValues, reference.lse) {
            if expected == .infinity {
                #expect(value == .infinity, "\(spec), seed \(generator.seed)")
            } else {
                #expect(abs(value - expected) < 1e-3, "lse \(value) against \(expected): \(spec), seed \(generator.seed)")
            }
        }
    }
}
