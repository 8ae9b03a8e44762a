// DecodeProblem built from one call's arguments in one step, as the tests build it.
@testable import FlashMLA

extension DecodeProblem {
    /// The validated dense problem of these arguments: ``DecodeInputs`` then the schedule and outputs.
    init(q: TensorView, kCache: TensorView, blockTable: TensorView, cacheSeqlens: TensorView, headDimV: Int,
         metadata: MLAMetadata, softmaxScale: Float?, causal: Bool, kvFormat: KVCacheFormat = .native,
         attnSink: TensorView? = nil, out: TensorView, lse: TensorView, backend: Backend) throws(MLAError) {
        let inputs = try DecodeInputs(q: q, kCache: kCache, blockTable: blockTable, cacheSeqlens: cacheSeqlens,
                                      headDimV: headDimV, softmaxScale: softmaxScale, causal: causal,
                                      kvFormat: kvFormat, attnSink: attnSink, backend: backend)
        try self.init(inputs, metadata: metadata, out: out, lse: lse)
    }

    /// The validated sparse problem of these arguments.
    init(q: TensorView, kCache: TensorView, sparse: SparseIndices, headDimV: Int, metadata: MLAMetadata,
         softmaxScale: Float?, kvFormat: KVCacheFormat, attnSink: TensorView?, out: TensorView, lse: TensorView,
         backend: Backend) throws(MLAError) {
        let inputs = try DecodeInputs(q: q, kCache: kCache, indices: sparse, headDimV: headDimV,
                                      softmaxScale: softmaxScale, kvFormat: kvFormat, attnSink: attnSink,
                                      backend: backend)
        try self.init(inputs, metadata: metadata, out: out, lse: lse)
    }
}
