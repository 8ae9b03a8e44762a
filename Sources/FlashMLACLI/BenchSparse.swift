// BenchSparse: the inputs `flashmla bench` times for a sparse (DeepSeek-V3.2) configuration, and what its FLOPs and bytes count.
import FlashMLA
import FlashMLATesting

/// What a sparse configuration's FLOPs and bytes count, as FlashMLA's
/// `tests/lib.py::count_flop_and_mem_vol_for_decode` counts them.
struct SparseFigures: Sendable, Equatable {
    /// Entries per index list.
    var topk: Int
    /// The cache layout.
    var kvFormat: KVFormatChoice
    /// FlashMLA's `N`: `s_q · Σ counted entries` (`topk_length[i]` or `topk` per request, `−1` entries included).
    var attendedEntries: Int
    /// Distinct cache tokens the counted entries reach (`−1` not counted): the cache one call reads.
    var uniqueTokens: Int
    /// Bytes of one cache token: 576 values in the input type, 656 (fp8-ds), or 576 for MODEL1 (FlashMLA's
    /// count: its 584 bytes less the scales).
    var tokenBytes: Int

    /// The key head dimension the FLOPs and bytes count: 512 for MODEL1, else the configuration's `d`.
    func queryHeadDim(_ d: Int) -> Int { kvFormat == .model1 ? Model1Layout.headDim : d }
}

/// The tensors of one sparse benchmark call in the engine's memory: a ``SparseProblem`` (index
/// lists of distinct tokens of each request's own pages, NaN in every slot no counted entry
/// reaches), uploaded on CUDA (the host copies are dropped), and preallocated `out` and `lse`.
struct SparseBenchOperands {
    let q: Tensor
    let kCache: Tensor
    let indices: Tensor
    let topkLength: Tensor?
    /// The extra cache, its lists and their lengths (MODEL1 with `extra_topk`), or nils.
    let extra: [Tensor?]
    let out: Tensor
    let lse: Tensor
    /// How `kCache` stores a token.
    let kvFormat: KVCacheFormat
    /// What the call's FLOPs and bytes count.
    let figures: SparseFigures
    /// Bytes of the inputs.
    let inputBytes: Int

    /// Draws the inputs of `config` (with `topk`) for the resolved `cacheSeqlens`.
    init(config: BenchConfig, cacheSeqlens lengths: [Int32], elementType: ElementType, seed: UInt64, engine: MLAEngine,
         pageSize: Int, kvFormat format: KVFormatChoice) throws {
        guard let topk = config.topk else { throw BenchError("a sparse benchmark needs topk") }
        let shape = SparseProblemConfig(cacheSeqlens: lengths, queryLength: config.sQ, queryHeads: config.hQ, topk: topk,
                                        topkLength: config.topkLength?.counts(batchSize: config.b),
                                        invalidFraction: config.invalidIndices ?? 0, elementType: elementType,
                                        pageSize: pageSize, kvFormat: format, extraTopk: config.extraTopk ?? 0,
                                        extraTopkLength: config.extraTopkLength?.counts(batchSize: config.b),
                                        extraPageSize: config.extraPageBlockSize ?? TileSchedule.blockSize)
        let problem = SparseProblem(shape, seed: seed)
        kvFormat = problem.kvFormat
        figures = SparseFigures(topk: topk, kvFormat: format, attendedEntries: shape.attendedEntries,
                                uniqueTokens: problem.uniqueTokens,
                                tokenBytes: format == .model1 ? Model1Layout.dataBytes : problem.kvFormat.bytesPerToken(queryType: elementType))
        let extras = [problem.extraKCache, problem.extraIndices, problem.extraTopkLength]
        let inputs = [problem.q, problem.kCache, problem.indices] + ([problem.topkLength] + extras).compactMap { $0 }
        inputBytes = inputs.reduce(0) { $0 + $1.view.elementCount * $1.elementType.byteCount }
        let outShape = [config.b, config.sQ, config.hQ, config.dv], lseShape = [config.b, config.hQ, config.sQ]
        let memory = EngineMemory(engine)
        q = try memory.place(problem.q)
        kCache = try memory.place(problem.kCache)
        indices = try memory.place(problem.indices)
        topkLength = try problem.topkLength.map { try memory.place($0) }
        extra = try extras.map { try $0.map { try memory.place($0) } }
        out = try memory.allocate(elementType, outShape)
        lse = try memory.allocate(.float32, lseShape)
    }

    /// The sparse selection, in the engine's memory.
    var sparse: SparseIndices {
        SparseIndices(indices: indices.view, topkLength: topkLength?.view, extraKCache: extra[0]?.view,
                      extraIndices: extra[1]?.view, extraTopkLength: extra[2]?.view)
    }

    /// The call into `out` and `lse`, with the metadata computed once (FlashMLA's softmax scale 1/√d_qk).
    func call(engine: MLAEngine) throws -> BenchCall {
        let sparse = self.sparse
        let metadata = try engine.getMLAMetadata(sparse: sparse, queryRows: q.shape[1] * q.shape[2])
        return BenchCall(run: {
            try engine.flashMLAWithKVCache(q: q.view, kCache: kCache.view, indices: sparse, headDimV: DecodeProblem.headDimV,
                                           metadata: metadata, kvFormat: kvFormat, out: out.view, lse: lse.view)
        }, warnings: { try BenchOutputs.warnings(out: out, lse: lse, engine: engine) }, inputBytes: inputBytes)
    }
}
