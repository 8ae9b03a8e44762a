// SparseIndices: the cache slots each query token attends to in sparse decoding.
/// Which cache slots each query token attends to in sparse decoding (DeepSeek-V3.2's
/// DSA, FlashMLA's `indices` and `topk_length`).
///
/// Query token `j` of request `i` attends to the slots `indices[i][j][k]` for `k` below
/// `topkLength[i]` (all `topk` when `topkLength` is nil). A slot is absolute in the cache:
/// `page · pageSize + offset` (no block table); `−1` marks an entry to skip. A row whose
/// entries are all skipped (or whose `topkLength` is 0) sees no key: its output is 0 and its
/// log-sum-exp `+∞`, as FlashMLA's.
///
/// Contents are checked where the host can read them, before any work: on the CPU backend
/// (host memory) an index outside `−1 ..< numPages · pageSize` or a `topkLength` outside
/// `0 ... topk` throws ``MLAError/invalidArgument(argument:expected:given:)`` naming the entry
/// (`indices[i][j][k]`, `topkLength[i]`). On CUDA both live in device memory, which a call does
/// not read back (it never waits for the device): the kernels skip such an index (zero-filled,
/// masked) and clamp such a length to `0 ... topk`, and flag it in the workspace's error flag,
/// which ``Workspace/takeErrors()`` reports. (FlashMLA checks neither: its kernels read past a
/// list whose `topk_length` exceeds `topk`.)
public struct SparseIndices: Sendable, Equatable {
    /// Int32 `[b, s_q, topk]`, innermost stride 1: absolute cache slots, `−1` invalid.
    public var indices: TensorView
    /// Int32 `[b]`, contiguous, each in `0 ... topk`: how many leading entries of each
    /// request's lists count; nil: all `topk`.
    public var topkLength: TensorView?

    /// Wraps `indices` and, optionally, `topkLength`.
    public init(indices: TensorView, topkLength: TensorView? = nil) {
        self.indices = indices
        self.topkLength = topkLength
    }

    /// Entries per list, `topk` (dimension 2 of `indices`; 0 when it is not rank 3).
    public var topk: Int { indices.rank == 3 ? indices.shape[2] : 0 }
}
