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
///
/// With the MODEL1 format (``KVCacheFormat/fp8Model1``) a second cache may join: FlashMLA's
/// `extra_k_cache`, with its own page size and its own lists `extraIndices` (slots of that
/// cache) counted by `extraTopkLength`. Its keys are more keys of the **same** softmax (one `lse`
/// over the union of both lists' valid slots), not a second attention merged afterwards.
public struct SparseIndices: Sendable, Equatable {
    /// Int32 `[b, s_q, topk]`, innermost stride 1: absolute cache slots, `−1` invalid.
    public var indices: TensorView
    /// Int32 `[b]`, contiguous, each in `0 ... topk`: how many leading entries of each
    /// request's lists count; nil: all `topk`.
    public var topkLength: TensorView?

    /// The extra cache (FlashMLA's `extra_k_cache`), in the main cache's format (MODEL1 only) with
    /// its own page size: uint8 `[extraNumPages, extraPageSize, 1, 584]`; nil: none.
    public var extraKCache: TensorView?
    /// Int32 `[b, s_q, extra_topk]`, innermost stride 1 (FlashMLA's `extra_indices_in_kvcache`):
    /// slots `page · extraPageSize + offset` of `extraKCache`, `−1` invalid. Required with
    /// `extraKCache`, refused without it.
    public var extraIndices: TensorView?
    /// Int32 `[b]`, contiguous, each in `0 ... extra_topk` (FlashMLA's `extra_topk_length`): how
    /// many leading entries of each request's extra lists count; nil: all. Only with `extraKCache`.
    public var extraTopkLength: TensorView?

    /// Wraps `indices` and, optionally, `topkLength` and an extra cache with its lists.
    public init(indices: TensorView, topkLength: TensorView? = nil, extraKCache: TensorView? = nil,
                extraIndices: TensorView? = nil, extraTopkLength: TensorView? = nil) {
        self.indices = indices
        self.topkLength = topkLength
        self.extraKCache = extraKCache
        self.extraIndices = extraIndices
        self.extraTopkLength = extraTopkLength
    }

    /// Entries per list, `topk` (dimension 2 of `indices`; 0 when it is not rank 3).
    public var topk: Int { indices.rank == 3 ? indices.shape[2] : 0 }

    /// Entries per extra list, `extra_topk` (dimension 2 of `extraIndices`; 0 without one of rank 3).
    public var extraTopk: Int { extraIndices.map { $0.rank == 3 ? $0.shape[2] : 0 } ?? 0 }

    /// Whether an extra cache is given.
    public var hasExtraCache: Bool { extraKCache != nil }

    /// The length of one request's "sequence" in the schedule, in index positions: without an
    /// extra cache its count of entries `topkLength`; with one, FlashMLA's count,
    /// `⌈max(topkLength, 1) / 64⌉ · 64 + extraTopkLength`: the main list padded to whole 64-entry
    /// blocks (at least one), then the extra list from the next block on. Position `p` of that
    /// sequence is main entry `p` below the padded length, else extra entry `p − padded`; the
    /// padding positions are masked. The GPU's scheduler and kernel compute the same.
    public static func scheduledLength(topkLength: Int, extraTopkLength: Int?) -> Int {
        guard let extraTopkLength else { return topkLength }
        return mainBlockPositions(topkLength: topkLength) + extraTopkLength
    }

    /// The positions the main list takes in a request's sequence when an extra cache follows it:
    /// `⌈max(topkLength, 1) / 64⌉ · 64`.
    public static func mainBlockPositions(topkLength: Int) -> Int {
        let block = TileSchedule.blockSize
        return (max(topkLength, 1) + block - 1) / block * block
    }
}
