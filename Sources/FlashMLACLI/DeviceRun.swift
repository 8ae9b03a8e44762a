// DeviceRun: one problem's inputs on one device, ready to decode.
import CUDADriver
import Foundation
import FlashMLA
import FlashMLATesting

/// One problem's inputs uploaded to one device, with its metadata, ready to decode.
struct DeviceRun {
    let engine: MLAEngine
    let cuda: CUDABackend
    let config: ProblemConfig
    let q: Tensor, kCache: Tensor, blockTable: Tensor, cacheSeqlens: Tensor
    let kvFormat: KVCacheFormat
    let metadata: MLAMetadata

    /// Uploads `problem` to the engine's device and computes its metadata there.
    init(_ problem: RandomProblem, engine: MLAEngine) throws {
        guard let cuda = engine.cudaBackend else { throw MLAError.backend("DeviceRun needs a CUDA engine") }
        self.engine = engine
        self.cuda = cuda
        config = problem.config
        q = try cuda.upload(problem.q.view)
        kCache = try cuda.upload(problem.kCache.view)
        kvFormat = problem.kvFormat
        blockTable = try cuda.upload(problem.blockTable.view)
        cacheSeqlens = try cuda.upload(problem.cacheSeqlens.view)
        metadata = try engine.getMLAMetadata(cacheSeqlens: cacheSeqlens.view,
                                             rowsPerKVHead: config.rowsPerKVHead,
                                             kvHeads: config.kvHeads)
    }

    /// Decodes into fresh outputs poisoned with 0xFF bytes (NaN in bf16, fp16 and fp32),
    /// directly or as `graphReplays` replays of a captured CUDA graph, and returns host copies.
    func decode(graphReplays: Int = 0) throws -> (out: Tensor, lse: Tensor) {
        try Self.decode(cuda: cuda, elementType: config.elementType, batchSize: config.batchSize,
                        queryLength: config.queryLength, queryHeads: config.queryHeads, graphReplays: graphReplays) { out, lse in
            try engine.flashMLAWithKVCache(q: q.view, kCache: kCache.view, blockTable: blockTable.view,
                                           cacheSeqlens: cacheSeqlens.view, headDimV: DecodeProblem.headDimV,
                                           metadata: metadata, causal: config.causal, kvFormat: kvFormat,
                                           out: out, lse: lse)
        }
    }

    /// Runs `call` into fresh device outputs (`out` `[b, s_q, h_q, 512]` in `elementType`, `lse`
    /// Float32 `[b, h_q, s_q]`) poisoned with 0xFF bytes, directly or as `graphReplays` replays
    /// of a captured CUDA graph, and returns host copies.
    static func decode(cuda: CUDABackend, elementType: ElementType, batchSize: Int, queryLength: Int, queryHeads: Int,
                       graphReplays: Int, _ call: (TensorView, TensorView) throws -> Void) throws -> (out: Tensor, lse: Tensor) {
        let out = try cuda.allocate(elementType: elementType,
                                    shape: [batchSize, queryLength, queryHeads, DecodeProblem.headDimV])
        let lse = try cuda.allocate(elementType: .float32, shape: [batchSize, queryHeads, queryLength])
        for tensor in [out, lse] {
            let bytes = tensor.view.elementCount * tensor.view.elementType.byteCount
            // On the stream the decode runs on: a legacy-stream memset is not ordered before it.
            try DeviceMemory.fillAsync(address: tensor.view.deviceAddress!, byteCount: bytes, byte: 0xFF, stream: cuda.stream)
        }
        if graphReplays == 0 {
            try call(out.view, lse.view)
        } else {
            let graph = try Graph.capture(on: cuda.stream) { try call(out.view, lse.view) }
            for _ in 0..<graphReplays { try graph.launch(on: cuda.stream) }
        }
        return (try cuda.download(out.view), try cuda.download(lse.view))
    }
}

/// Whether two host tensors hold the same bytes.
func bytesEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    let count = a.view.elementCount * a.view.elementType.byteCount
    return a.view.elementCount == b.view.elementCount && memcmp(a.view.hostPointer!, b.view.hostPointer!, count) == 0
}
