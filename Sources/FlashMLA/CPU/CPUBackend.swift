// CPUBackend: the Float32 reference backend's entry point.
import Dispatch

/// The Float32 reference backend: FlashMLA's decode attention on the host.
///
/// Both modes read the inputs in their own 16-bit type, compute in Float32 and write `out`
/// (rounded to the input type) and `lse`; they share one piece of math,
/// ``PartialAttention`` (the attention of one KV head's query rows over a token range),
/// and ``SplitMerge`` (how partials over disjoint token ranges are merged).
enum CPUBackend {
    /// How the work is cut.
    enum Mode: Sendable {
        /// Each (request, KV head) over all its tokens at once.
        case direct
        /// FlashMLA's split-KV scheme, following `metadata.hostSchedule`: each worker part's
        /// pieces are computed as partials, then each split request's partials are combined.
        case splitKV
    }

    /// Computes `problem.out` and `problem.lse`, which must be host memory, as must every input.
    static func decode(_ problem: DecodeProblem, mode: Mode) {
        let memory = HostProblemMemory(problem)
        switch mode {
        case .direct: decodeDirect(memory)
        case .splitKV: decodeSplitKV(memory)
        }
    }

    /// Runs `body(0 ..< count)` on all cores; each index is one independent task.
    static func parallel(_ count: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 { return body(0) }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
