import CUDADriver

/// The argument lists of the kernels a decode call launches, built without a device so that
/// tests can hold each against its kernel's parameter list (`LaunchArgumentTests`). Names are
/// the kernels' parameter names.
extension CUDABackend {
    /// The eleven pointers every decode kernel takes first: q, the cache, the block table (sparse:
    /// indices), the lengths (sparse: topk_length or null), the schedule, num_splits, out, lse,
    /// the two accumulators and the error flag.
    private static func appendPointers(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64),
                                       errorFlag: UInt64, to list: inout LaunchArguments) {
        list.pointer("q", problem.q.deviceAddress!)
        list.pointer("kcache", problem.kCache.deviceAddress!)
        if let sparse = problem.sparse {
            list.pointer("indices", sparse.indices.deviceAddress!)
            list.pointer("topk_length", sparse.topkLength?.deviceAddress ?? 0)
        } else {
            list.pointer("block_table", problem.blockTable.deviceAddress!)
            list.pointer("seqlens", problem.cacheSeqlens.deviceAddress!)
        }
        list.pointer("sched", problem.metadata.tileSchedulerMetadata.deviceAddress!)
        list.pointer("num_splits", problem.metadata.numSplits.deviceAddress!)
        list.pointer("out", problem.out.deviceAddress!)
        list.pointer("lse", problem.lse.deviceAddress!)
        list.pointer("oaccum", accumulators.out)
        list.pointer("lseaccum", accumulators.lse)
        list.pointer("error_flag", errorFlag)
    }

    private static func appendQueryStrides(_ problem: DecodeProblem, to list: inout LaunchArguments) {
        list.int64("q_batch_stride", problem.q.strides[0])
        list.int64("q_seq_stride", problem.q.strides[1])
        list.int64("q_head_stride", problem.q.strides[2])
    }

    /// s_q, h_q, h_kv, the cache's pages and the block table's width, the score scale in log2
    /// units (carrying a per-tensor FP8 scale; 1 for the other formats) and the causal flag.
    private static func appendScalars(_ problem: DecodeProblem, to list: inout LaunchArguments) {
        list.int32("s_q", problem.queryLength)
        list.int32("h_q", problem.queryHeads)
        list.int32("h_kv", problem.kvHeads)
        list.int32("num_pages", problem.numPages)
        list.int32("max_pages", problem.maxPagesPerRequest)
        list.float32("scale_log2", problem.softmaxScale * Float(1.4426950408889634) * problem.kvFormat.valueScale)
        list.int32("causal", problem.causal ? 1 : 0)
    }

    /// `sm80/decode.cu` (64-token pages: cache strides in elements) or `decode_paged.cu` /
    /// `decode_fp8.cu` (strides in bytes, then the page size and the output scale).
    static func portableArguments(_ problem: DecodeProblem, tile: DecodeTile, accumulators: (out: UInt64, lse: UInt64),
                                  errorFlag: UInt64) -> LaunchArguments {
        var list = LaunchArguments()
        appendPointers(problem, accumulators: accumulators, errorFlag: errorFlag, to: &list)
        appendQueryStrides(problem, to: &list)
        let page64 = tile.cache == .page64
        let cacheUnit = page64 ? 1 : problem.kCache.elementType.byteCount
        let strides = problem.kCache.strides
        list.int64(page64 ? "k_page_stride" : "k_page_bytes", strides[0] * cacheUnit)
        list.int64(page64 ? "k_token_stride" : "k_token_bytes", strides[1] * cacheUnit)
        list.int64(page64 ? "k_head_stride" : "k_head_bytes", strides[2] * cacheUnit)
        list.int64("bt_stride", problem.blockTable.strides[0])
        appendScalars(problem, to: &list)
        if !page64 {
            list.int32("page_size", problem.pageSize)
            list.float32("out_scale", problem.kvFormat.valueScale)
        }
        list.pointer("attn_sink", problem.attnSink?.deviceAddress ?? 0)
        return list
    }

    /// `sm80/decode_sparse.cu`: the arguments of `decode_paged.cu` with the indices for the block
    /// table, topk_length (or null) for the lengths, the cache's slot count for its pages, topk for
    /// the block table's width, causal 0, then the sink and the indices' token stride.
    static func sparseArguments(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64),
                                errorFlag: UInt64) -> LaunchArguments {
        guard let sparse = problem.sparse else { preconditionFailure("sparse arguments for a dense problem") }
        var list = LaunchArguments()
        appendPointers(problem, accumulators: accumulators, errorFlag: errorFlag, to: &list)
        appendQueryStrides(problem, to: &list)
        let cacheUnit = problem.kCache.elementType.byteCount
        list.int64("k_page_bytes", problem.kCache.strides[0] * cacheUnit)
        list.int64("k_token_bytes", problem.kCache.strides[1] * cacheUnit)
        list.int64("k_head_bytes", problem.kCache.strides[2] * cacheUnit)
        list.int64("ind_batch_stride", sparse.indices.strides[0])
        list.int32("s_q", problem.queryLength)
        list.int32("h_q", problem.queryHeads)
        list.int32("h_kv", problem.kvHeads)
        list.int32("num_slots", min(problem.numPages * problem.pageSize, Int(Int32.max)))
        list.int32("topk", sparse.topk)
        list.float32("scale_log2", problem.softmaxScale * Float(1.4426950408889634))
        list.int32("causal", 0)
        list.int32("page_size", problem.pageSize)
        list.float32("out_scale", 1)
        list.pointer("attn_sink", problem.attnSink?.deviceAddress ?? 0)
        list.int64("ind_seq_stride", sparse.indices.strides[1])
        return list
    }

    /// `sm90/decode_lockstep.cu` and `decode_seesaw.cu` (`FMLA_SM90_PARAMS` after the tensor map);
    /// `map` nil records the tensor map's place only (a signature check, no launch).
    static func hopperArguments(_ problem: DecodeProblem, map: TensorMap?, accumulators: (out: UInt64, lse: UInt64),
                                errorFlag: UInt64) -> LaunchArguments {
        var list = LaunchArguments()
        if let map { list.tensorMap("kmap", map) } else { list.tensorMapPlaceholder("kmap") }
        appendPointers(problem, accumulators: accumulators, errorFlag: errorFlag, to: &list)
        appendQueryStrides(problem, to: &list)
        list.int64("bt_stride", problem.blockTable.strides[0])
        appendScalars(problem, to: &list)
        list.pointer("attn_sink", problem.attnSink?.deviceAddress ?? 0)
        return list
    }

    /// `combine.cu`.
    static func combineArguments(_ problem: DecodeProblem, accumulators: (out: UInt64, lse: UInt64)) -> LaunchArguments {
        var list = LaunchArguments()
        list.pointer("lseaccum", accumulators.lse)
        list.pointer("oaccum", accumulators.out)
        list.pointer("num_splits", problem.metadata.numSplits.deviceAddress!)
        list.pointer("out", problem.out.deviceAddress!)
        list.pointer("lse", problem.lse.deviceAddress!)
        list.int32("h_q", problem.queryHeads)
        list.int32("s_q", problem.queryLength)
        list.int32("h_kv", problem.kvHeads)
        list.pointer("attn_sink", problem.attnSink?.deviceAddress ?? 0)
        return list
    }

    /// `scheduler.cu`: lengths at `lengths` (0: every request `cap` long), the policy's numbers
    /// for `rows` query rows per KV head, the outputs, and the cap.
    static func schedulerArguments(lengths: UInt64, batch: Int, parts: Int, rows: Int,
                                   tileSchedulerMetadata: UInt64, numSplits: UInt64, cap: Int) -> LaunchArguments {
        var list = LaunchArguments()
        list.pointer("seqlens", lengths)
        list.int32("batch", batch)
        list.int32("num_parts", parts)
        list.int32("fixed", TileSchedule.fixedCostBlocks(rowsPerKVHead: rows))
        list.int32("slack", TileSchedule.wholeRequestSlackBlocks)
        list.int32("slack_divisor", TileSchedule.wholeRequestSlackDivisor)
        list.pointer("sched", tileSchedulerMetadata)
        list.pointer("num_splits", numSplits)
        list.int32("cap", cap)
        return list
    }
}
