// The CPU backend's direct mode: each request's rows over all its keys at once.
extension CPUBackend {
    /// The direct mode: one task per (request, KV head), attending over all its visible
    /// keys and writing the final rows.
    static func decodeDirect(_ memory: HostProblemMemory) {
        let problem = memory.problem
        parallel(problem.batchSize * problem.kvHeads) { task in
            let request = task / problem.kvHeads, kvHead = task % problem.kvHeads
            let partial = PartialAttention(memory, request: request, kvHead: kvHead,
                                           tokens: 0 ..< memory.seqlens[request])
            partial.storeFinal(into: memory, request: request, kvHead: kvHead)
        }
    }
}
