// The CPU backend's split-KV mode: the tile schedule's pieces, then the combine.
extension CPUBackend {
    /// The split-KV mode on the host: the GPU's tile schedule (``TileSchedule``), then the merge.
    ///
    /// 1. Every piece of every worker part of `metadata.hostSchedule` (a request, a token
    ///    range, a split index), for every KV head, is a ``PartialAttention``. A request with
    ///    one split is written straight to `out`/`lse`; otherwise the partial goes to
    ///    accumulator slot `numSplits[r] + split`.
    /// 2. Each split request's slots are merged (``SplitMerge``) into its final rows.
    ///
    /// Both steps run their tasks in parallel; every task writes its own memory, so the
    /// result does not depend on the order.
    static func decodeSplitKV(_ memory: HostProblemMemory) {
        let problem = memory.problem, kvHeads = problem.kvHeads
        guard let schedule = problem.metadata.hostSchedule else {
            preconditionFailure("split-KV on the CPU needs metadata with a host schedule")
        }
        let lengths = memory.seqlens.map { Int32($0) }
        let numSplits = schedule.numSplits.map { Int($0) }
        @Sendable func splitCount(_ request: Int) -> Int { numSplits[request + 1] - numSplits[request] }

        let pieces = (0 ..< schedule.numSMParts).flatMap { schedule.pieces(ofPart: $0, cacheSeqlens: lengths) }
        let accumulators = SplitAccumulators(slots: schedule.totalSplits, kvHeads: kvHeads,
                                             rows: problem.rowsPerKVHead)
        parallel(pieces.count * kvHeads) { task in
            let piece = pieces[task / kvHeads], kvHead = task % kvHeads
            let partial = PartialAttention(memory, request: piece.request, kvHead: kvHead, tokens: piece.tokens)
            if splitCount(piece.request) == 1 {
                partial.storeFinal(into: memory, request: piece.request, kvHead: kvHead)
            } else {
                precondition(piece.split < splitCount(piece.request), "split index past the request's splits")
                accumulators.store(partial, slot: numSplits[piece.request] + piece.split, kvHead: kvHead)
            }
        }

        let splitRequests = (0 ..< problem.batchSize).filter { splitCount($0) > 1 }
        parallel(splitRequests.count * kvHeads) { task in
            let request = splitRequests[task / kvHeads], kvHead = task % kvHeads
            combine(memory, accumulators, request: request,
                    slots: numSplits[request] ..< numSplits[request + 1], kvHead: kvHead)
        }
    }

    /// Merges `slots` of `kvHead` of `request` into its final rows.
    static func combine(_ memory: HostProblemMemory, _ accumulators: SplitAccumulators,
                        request: Int, slots: Range<Int>, kvHead: Int) {
        let width = DecodeProblem.headDimV
        let merged = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { merged.deallocate() }
        for row in 0 ..< memory.problem.rowsPerKVHead {
            let lse = SplitMerge.merge(lses: slots.map { accumulators.lse(slot: $0, kvHead: kvHead, row: row) },
                                       outs: slots.map { accumulators.out(slot: $0, kvHead: kvHead, row: row) },
                                       width: width, into: merged)
            memory.storeFinalRow(request: request, kvHead: kvHead, row: row, values: merged,
                                 logSumExp: SplitMerge.reportedLSE(lse))
        }
    }
}
