// PartialAttention: one KV head's rows of one request over a range of its tokens.
#if canImport(Glibc)
import Glibc
#endif

/// The attention of one KV head's query rows of one request over a range of its tokens:
/// what one split of FlashMLA's split-KV kernel computes.
///
/// For row `r`, with `K` the keys of the range that `r` sees and `s_k = scale · q_r·k`:
/// - `lse_r = log Σ_{k∈K} exp(s_k)`, `−∞` when `K` is empty;
/// - `out_r = Σ_{k∈K} exp(s_k − lse_r) · v_k` (normalized), zero when `K` is empty.
///
/// The keys are taken a 64-token block of the sequence at a time (the schedule's unit, whatever
/// the cache's page size) with a running maximum (an online softmax), in Float32. A key a row does not see — past its causal limit or past the request's length —
/// is never read for that row, so whatever such cache slots hold (NaN included) cannot
/// reach the result.
struct PartialAttention {
    /// The query rows of the KV head, `s_q · h_q / h_kv`.
    let rows: Int
    /// `rows × 512` normalized partial outputs.
    private(set) var out: [Float]
    /// `rows` natural-log partial log-sum-exps; `−∞` for a row that saw no key.
    private(set) var lse: [Float]

    /// Computes the partial of `kvHead` of `request` over `tokens` (clamped to the request's length).
    init(_ memory: HostProblemMemory, request: Int, kvHead: Int, tokens: Range<Int>) {
        let problem = memory.problem
        let rows = problem.rowsPerKVHead, dim = DecodeProblem.headDim, valueDim = DecodeProblem.headDimV
        let blockSize = TileSchedule.blockSize
        let range = tokens.clamped(to: 0 ..< memory.seqlens[request])
        let limits = (0 ..< rows).map { memory.visibleKeyCount(row: $0, request: request) }
        let furthest = min(range.upperBound, limits.max() ?? 0)

        let queries = UnsafeMutablePointer<Float>.allocate(capacity: rows * dim)
        let keys = UnsafeMutablePointer<Float>.allocate(capacity: blockSize * dim)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockSize)
        defer { queries.deallocate(); keys.deallocate(); scores.deallocate() }
        memory.loadQueries(request: request, kvHead: kvHead, into: queries)

        let state = OnlineSoftmax(rows: rows, width: valueDim)
        if problem.isSparse {
            // Each query position has its own index list; its rows see every valid slot of the
            // range's entries, a 64-entry block at a time.
            let group = problem.groupSize
            for position in 0 ..< problem.queryLength {
                var blockStart = range.lowerBound
                while blockStart < range.upperBound {
                    let blockEnd = min(range.upperBound, (blockStart / blockSize + 1) * blockSize)
                    let count = memory.loadSparseKeys(request: request, position: position,
                                                      entries: blockStart ..< blockEnd, into: keys)
                    for row in position * group ..< (position + 1) * group where count > 0 {
                        let query = queries + row * dim
                        for token in 0 ..< count {
                            scores[token] = problem.softmaxScale * VectorMath.dot(query, keys + token * dim, count: dim)
                        }
                        state.add(row: row, scores: scores, values: keys, valueStride: dim, count: count)
                    }
                    blockStart = blockEnd
                }
            }
        }
        var pageStart = range.lowerBound
        while pageStart < furthest && !problem.isSparse {
            let pageEnd = min(furthest, (pageStart / blockSize + 1) * blockSize)
            memory.loadKeys(request: request, tokens: pageStart ..< pageEnd, kvHead: kvHead, into: keys)
            for row in 0 ..< rows {
                let count = min(pageEnd, limits[row]) - pageStart
                guard count > 0 else { continue }
                let query = queries + row * dim
                for token in 0 ..< count {
                    scores[token] = problem.softmaxScale * VectorMath.dot(query, keys + token * dim, count: dim)
                }
                state.add(row: row, scores: scores, values: keys, valueStride: dim, count: count)
            }
            pageStart = pageEnd
        }
        self.rows = rows
        (out, lse) = state.finish()
    }

    /// Writes every row as final: `out` rounded to the output type and `lse`, `+∞` for a
    /// row that saw no key (its output is already zero).
    func storeFinal(into memory: HostProblemMemory, request: Int, kvHead: Int) {
        out.withUnsafeBufferPointer { values in
            for row in 0 ..< rows {
                memory.storeFinalRow(request: request, kvHead: kvHead, row: row,
                                     values: values.baseAddress! + row * DecodeProblem.headDimV,
                                     logSumExp: SplitMerge.reportedLSE(lse[row]))
            }
        }
    }
}
