// DecodeParams, CombineParams, SchedulerParams: the kernels' parameter structs, built on the host.
import CUDADriver

// Each struct mirrors the C struct of the same name in `Kernels/common/params.cuh`, which the
// kernel takes as one `const __grid_constant__` parameter: the same fields in the same order, each
// named as the C field in camelCase (`q_batch_stride` → `qBatchStride`, `s_q` → `sQ`), each of the
// same size (a device address as `UInt64`, `i64` as `Int64`, `int` as `Int32`, `float` as
// `Float`). Swift lays such a struct out as C does: every field at the next multiple of its
// size, the stride a multiple of the largest. `KernelParamsTests` holds the two equal field by
// field, offset by offset, from the parsed header (and through NVRTC where it is installed).

/// `DecodeParams`: the parameters of one decode launch, one value for every decode kernel
/// (`sm80/decode*.cu`, `sm90/decode_*.cu`; params.cuh says which kernels read which field).
struct DecodeParams: BitwiseCopyable, Equatable {
    var q: UInt64
    var kcache: UInt64
    var blockTable: UInt64
    var seqlens: UInt64
    var sched: UInt64
    var numSplits: UInt64
    var out: UInt64
    var lse: UInt64
    var oaccum: UInt64
    var lseaccum: UInt64
    var errorFlag: UInt64
    var attnSink: UInt64
    var extraKcache: UInt64
    var extraIndices: UInt64
    var extraSeqlens: UInt64
    var qBatchStride: Int64
    var qSeqStride: Int64
    var qHeadStride: Int64
    var kPageStride: Int64
    var kTokenStride: Int64
    var kHeadStride: Int64
    var btStride: Int64
    var indSeqStride: Int64
    var extraPageStride: Int64
    var extraIndBatchStride: Int64
    var extraIndSeqStride: Int64
    var sQ: Int32
    var hQ: Int32
    var hKv: Int32
    var numPages: Int32
    var maxPages: Int32
    var scaleLog2: Float
    var causal: Int32
    var pageSize: Int32
    var outScale: Float
    var extraTopk: Int32
    var extraNumSlots: Int32
    var extraPageSize: Int32
}

extension DecodeParams {
    /// The parameters of `problem`'s decode, whichever kernel runs it: the problem's tensors and
    /// sizes, the split accumulators and the error flag. Sparse problems pass their indices as the
    /// block table, `topkLength` (or null) as the lengths, the cache's slots (at most 2³¹ − 1) as
    /// its pages and `topk` as the block table's width. The cache's strides are in elements for
    /// FlashMLA's 64-token pages in `q`'s type (`sm80/decode.cu`), else in bytes; the Hopper
    /// kernels, which read the cache through a tensor map, ignore them. A MODEL1 problem's extra
    /// cache (if any) fills the `extra*` fields (its slots clamped to 2³¹ − 1); they are 0 otherwise.
    init(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64), errorFlag: UInt64) {
        let cache = problem.kCache
        let page64 = PortableCache(format: problem.kvFormat, pageSize: problem.pageSize, sparse: problem.isSparse) == .page64
        let cacheUnit = page64 ? 1 : cache.elementType.byteCount
        let sparse = problem.sparse
        let valueScale = problem.kvFormat.valueScale
        self.init(
            q: problem.q.deviceAddress!, kcache: cache.deviceAddress!, blockTable: problem.blockTable.deviceAddress!,
            seqlens: sparse.map { $0.topkLength?.deviceAddress ?? 0 } ?? problem.cacheSeqlens.deviceAddress!,
            sched: problem.metadata.tileSchedulerMetadata.deviceAddress!,
            numSplits: problem.metadata.numSplits.deviceAddress!,
            out: problem.out.deviceAddress!, lse: problem.lse.deviceAddress!,
            oaccum: accumulators.out, lseaccum: accumulators.lse, errorFlag: errorFlag,
            attnSink: problem.attnSink?.deviceAddress ?? 0,
            extraKcache: sparse?.extraKCache?.deviceAddress ?? 0, extraIndices: sparse?.extraIndices?.deviceAddress ?? 0,
            extraSeqlens: sparse?.extraTopkLength?.deviceAddress ?? 0,
            qBatchStride: Int64(problem.q.strides[0]), qSeqStride: Int64(problem.q.strides[1]),
            qHeadStride: Int64(problem.q.strides[2]),
            kPageStride: Int64(cache.strides[0] * cacheUnit), kTokenStride: Int64(cache.strides[1] * cacheUnit),
            kHeadStride: Int64(cache.strides[2] * cacheUnit),
            btStride: Int64(problem.blockTable.strides[0]), indSeqStride: Int64(sparse?.indices.strides[1] ?? 0),
            extraPageStride: Int64((sparse?.extraKCache).map { $0.strides[0] * $0.elementType.byteCount } ?? 0),
            extraIndBatchStride: Int64(sparse?.extraIndices?.strides[0] ?? 0),
            extraIndSeqStride: Int64(sparse?.extraIndices?.strides[1] ?? 0),
            sQ: Int32(problem.queryLength), hQ: Int32(problem.queryHeads), hKv: Int32(problem.kvHeads),
            numPages: Int32(sparse == nil ? problem.numPages : min(problem.numPages * problem.pageSize, Int(Int32.max))),
            maxPages: Int32(problem.maxPagesPerRequest),
            scaleLog2: problem.softmaxScale * Float(1.4426950408889634) * valueScale,
            causal: problem.causal ? 1 : 0, pageSize: Int32(problem.pageSize), outScale: valueScale,
            extraTopk: Int32(problem.hasExtraCache ? sparse?.extraTopk ?? 0 : 0),
            extraNumSlots: Int32(min(problem.extraNumPages * problem.extraPageSize, Int(Int32.max))),
            extraPageSize: Int32(problem.extraPageSize))
    }
}

/// `CombineParams`: the parameters of one combine launch (`combine.cu`).
struct CombineParams: BitwiseCopyable, Equatable {
    var lseaccum: UInt64
    var oaccum: UInt64
    var numSplits: UInt64
    var out: UInt64
    var lse: UInt64
    var attnSink: UInt64
    var hQ: Int32
    var sQ: Int32
    var hKv: Int32
}

extension CombineParams {
    /// The merge of `problem`'s split partials from `accumulators` into its `out` and `lse`.
    init(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64)) {
        self.init(lseaccum: accumulators.lse, oaccum: accumulators.out, numSplits: problem.metadata.numSplits.deviceAddress!,
                  out: problem.out.deviceAddress!, lse: problem.lse.deviceAddress!,
                  attnSink: problem.attnSink?.deviceAddress ?? 0,
                  hQ: Int32(problem.queryHeads), sQ: Int32(problem.queryLength), hKv: Int32(problem.kvHeads))
    }
}

/// `SchedulerParams`: the parameters of one scheduler launch (`scheduler.cu`).
struct SchedulerParams: BitwiseCopyable, Equatable {
    var seqlens: UInt64
    var sched: UInt64
    var numSplits: UInt64
    var extraSeqlens: UInt64
    var batch: Int32
    var numParts: Int32
    var fixed: Int32
    var slack: Int32
    var slackDivisor: Int32
    var cap: Int32
    var extraCap: Int32
}

extension SchedulerParams {
    /// The schedule of `batch` requests whose lengths are at device address `lengths` (0: every
    /// request `cap` long), each clamped to `0 ... cap`, over `parts` workers, with `policy`'s
    /// numbers (``TileSchedule``), into the two outputs.
    /// With `extraCap > 0` (a sparse MODEL1 call with an extra cache) each request is scheduled
    /// ``SparseIndices/scheduledLength(topkLength:extraTopkLength:)`` long, its extra length at
    /// `extraLengths` (0: `extraCap`) clamped to `0 ... extraCap`.
    init(lengths: UInt64, batch: Int, parts: Int, policy: SchedulePolicy, tileSchedulerMetadata: UInt64, numSplits: UInt64,
         cap: Int, extraLengths: UInt64 = 0, extraCap: Int = 0) {
        self.init(seqlens: lengths, sched: tileSchedulerMetadata, numSplits: numSplits, extraSeqlens: extraLengths,
                  batch: Int32(batch),
                  numParts: Int32(parts), fixed: Int32(policy.fixedCostBlocks),
                  slack: Int32(policy.wholeRequestSlackBlocks), slackDivisor: Int32(policy.wholeRequestSlackDivisor),
                  cap: Int32(cap), extraCap: Int32(extraCap))
    }
}

extension KernelArguments {
    /// Arguments holding one parameter struct (`params`), or the cache's tensor map and then
    /// `params` (the Hopper decode kernels).
    init<Params: BitwiseCopyable>(_ params: Params, after tensorMap: TensorMap? = nil) {
        self.init()
        if let tensorMap { append(tensorMap) }
        append(params)
    }
}
