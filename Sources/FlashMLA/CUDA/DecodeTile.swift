// DecodeTile, DecodeKernel and PortableCache: which decode kernel runs and how it reads the cache.
/// How the portable kernel finds and reads the cache's tokens: which translation unit and
/// entry points serve a problem (see `Kernels/sm80/decode.cuh`).
enum PortableCache: Equatable, CaseIterable {
    /// `q`'s type, 64-token pages: FlashMLA's layout (`sm80/decode.cu`).
    case page64
    /// `q`'s type, pages of any size (`sm80/decode_paged.cu`).
    case paged
    /// Per-tensor FP8 (`sm80/decode_fp8.cu`).
    case fp8
    /// DeepSeek-V3.2's 656-byte FP8 tokens (`sm80/decode_fp8.cu`).
    case fp8DeepSeek
    /// Sparse decoding from a cache in `q`'s type, any page size (`sm80/decode_sparse.cu`).
    case sparse
    /// Sparse decoding from DeepSeek-V3.2's 656-byte FP8 tokens (`sm80/decode_sparse.cu`).
    case sparseFP8DeepSeek

    /// The reading a problem with this format and page size needs (`sparse`: a sparse decode,
    /// whose format is native or DeepSeek-V3.2's).
    init(format: KVCacheFormat, pageSize: Int, sparse: Bool = false) {
        switch format {
        case .native: self = sparse ? .sparse : pageSize == TileSchedule.blockSize ? .page64 : .paged
        case .fp8PerTensor: self = .fp8
        case .fp8DeepSeek: self = sparse ? .sparseFP8DeepSeek : .fp8DeepSeek
        }
    }

    /// Whether raw FP8 bytes are staged and converted (`stages` then counts raw stages).
    var isFP8: Bool { self == .fp8 || self == .fp8DeepSeek || self == .sparseFP8DeepSeek }

    /// Whether the unit runs the sparse mode (each query token its own index list).
    var isSparse: Bool { self == .sparse || self == .sparseFP8DeepSeek }

    /// Bytes between two staged raw tokens in shared memory (`FMLA_FP8_PITCH`, `FMLA_FP8DS_PITCH`).
    var rawPitch: Int {
        switch self {
        case .page64, .paged, .sparse: 0
        case .fp8: 576
        case .fp8DeepSeek, .sparseFP8DeepSeek: 704
        case .sparse: 0
        }
    }

    /// The stage counts the unit defines for a tile of `rows`, most first: FP8 16-row tiles up to
    /// three raw stages; the paged 16-bit unit's 64-row tiles one stage (two would spill on sm_90a);
    /// none for 64-row sparse FP8 tiles (one stage would spill on sm_90a, two do not fit).
    func stageChoices(rows: Int) -> [Int] {
        if isFP8 && rows == 16 { return [3, 2, 1] }
        if (self == .paged || self == .sparse) && rows == 64 { return [1] }
        if self == .sparseFP8DeepSeek && rows == 64 { return [] }   // none: it would spill (decode_sparse.cu)
        return [2, 1]
    }

    /// The translation unit.
    var unit: KernelCatalog.Unit {
        switch self {
        case .page64: .decodeSM80
        case .paged: .decodeSM80Paged
        case .fp8, .fp8DeepSeek: .decodeSM80FP8
        case .sparse, .sparseFP8DeepSeek: .decodeSM80Sparse
        }
    }

    /// The part of the entry point's name after `flashmla_decode_sm80_`, before the type.
    var namePrefix: String {
        switch self {
        case .page64: ""
        case .paged: "paged_"
        case .fp8: "fp8_"
        case .fp8DeepSeek: "fp8ds_"
        case .sparse: "sparse_"
        case .sparseFP8DeepSeek: "sparse_fp8ds_"
        }
    }
}

/// The shape of one decode block of the portable kernel: how many query rows it takes and
/// how many pages it keeps in flight. Mirrors `FMLA_SMEM` and `FMLA_SMEM_FP8` in
/// `Kernels/sm80/decode.cuh`.
struct DecodeTile: Equatable {
    /// Query rows per block: 16, 32 or 64.
    var rows: Int
    /// Pages in the cp.async ring: 2, or 1 where shared memory is short. For FP8 caches, raw
    /// 64-token stages ahead of the one converted page: up to 3 (16 rows) or 2.
    var stages: Int
    /// How the cache is read.
    var cache: PortableCache = .page64

    /// Dynamic shared memory, in bytes: Q tile, page ring (FP8: one page and the raw stages),
    /// probabilities, row exchange, and for sparse tiles the tokens' validity words
    /// (`FMLA_SPARSE_VALID_BYTES`).
    var sharedMemoryBytes: Int {
        let rowBytes = DecodeProblem.headDim * 2
        let pages = cache.isFP8 ? TileSchedule.blockSize * rowBytes + stages * TileSchedule.blockSize * cache.rawPitch
                                : stages * TileSchedule.blockSize * rowBytes
        return rows * rowBytes + pages + rows * 128 + (8 / (rows / 16)) * rows * 4 + (cache.isSparse ? Self.sparseValidBytes : 0)
    }

    /// `FMLA_SPARSE_VALID_BYTES` in `sm80/decode.cuh`.
    static let sparseValidBytes = 256

    /// The kernel's name for `elementType` (`q`'s type).
    func kernelName(_ elementType: ElementType) -> String {
        "flashmla_decode_sm80_\(cache.namePrefix)\(elementType == .bfloat16 ? "bf16" : "fp16")_m\(rows)_s\(stages)"
    }

    /// The smallest tile that holds `rowsPerKVHead` rows (at most 64), with the most stages
    /// `sharedMemoryLimit` allows; smaller tiles where even one stage does not fit.
    static func choose(rowsPerKVHead: Int, sharedMemoryLimit: Int, cache: PortableCache = .page64) -> DecodeTile? {
        let wanted = rowsPerKVHead <= 16 ? 16 : rowsPerKVHead <= 32 ? 32 : 64
        for rows in [64, 32, 16] where rows <= wanted {
            for stages in cache.stageChoices(rows: rows) {
                let tile = DecodeTile(rows: rows, stages: stages, cache: cache)
                if tile.sharedMemoryBytes <= sharedMemoryLimit { return tile }
            }
        }
        return nil
    }
}

/// Which decode kernel runs a problem.
enum DecodeKernel: Equatable {
    /// The portable mma.sync kernel with this tile (`sm80/decode.cu`).
    case portable(DecodeTile)
    /// The Hopper kernel whose two warpgroups share each page (`sm90/decode_lockstep.cu`):
    /// the one for a single tile of up to 64 query rows per KV head.
    case hopperLockstep
    /// The Hopper kernel whose warpgroups take alternate pages out of phase
    /// (`sm90/decode_seesaw.cu`): the one for more than 64 query rows per KV head.
    case hopperSeesaw

    /// Dynamic shared memory of the lockstep kernel: Q, two pages, two mbarriers, the row
    /// exchange, the two P halves, and 1024 bytes to align the base (`FMLA_SMEM_LOCKSTEP`; a
    /// test holds the two equal).
    static let lockstepSharedMemoryBytes = 3 * 9 * 8192 + 16 + 2 * 64 * 4 + 2 * 64 * 72 + 1024
    /// Dynamic shared memory of the seesaw kernel: Q, two pages, the box that hands P1 over, 256
    /// bytes of mbarriers (one per box of each page and one per handoff), the row maxima and sums
    /// of both warpgroups, and 1024 bytes to align the base (`FMLA_SMEM_SEESAW`; a test holds the
    /// two equal).
    static let seesawSharedMemoryBytes = 3 * 9 * 8192 + 8192 + 256 + 4 * 64 * 4 + 1024

    /// The kernel for `rowsPerKVHead` query rows on a device of `computeCapability` with
    /// `sharedMemoryLimit` bytes per block, unless `preference` says otherwise. Automatic: the
    /// device's `table` where it covers the row count and names a kernel that fits, else the
    /// rule (``DecodeKernelTable``): on sm_90 the lockstep kernel up to 64 rows (memory-bound) and
    /// the seesaw kernel above (compute-bound); elsewhere the portable kernel. The Hopper kernels
    /// read the cache through a tensor map of 64-token pages in `q`'s type: for any other `cache`
    /// (another page size, FP8) the portable kernel runs, whatever `preference` or `table` ask.
    static func choose(rowsPerKVHead: Int, computeCapability: (major: Int, minor: Int), sharedMemoryLimit: Int,
                       preference: Preference, table: DecodeKernelTable? = nil, cache: PortableCache = .page64) -> DecodeKernel? {
        let hopper = computeCapability == (9, 0) && cache == .page64
        let lockstepFits = hopper && sharedMemoryLimit >= lockstepSharedMemoryBytes
        let seesawFits = hopper && sharedMemoryLimit >= seesawSharedMemoryBytes
        let hopperByRows: DecodeKernel? = rowsPerKVHead > 64 ? (seesawFits ? .hopperSeesaw : nil) : (lockstepFits ? .hopperLockstep : nil)
        let portable = DecodeTile.choose(rowsPerKVHead: rowsPerKVHead, sharedMemoryLimit: sharedMemoryLimit, cache: cache)
            .map { DecodeKernel.portable($0) }
        switch preference {
        case .hopperLockstep where lockstepFits:
            return .hopperLockstep
        case .hopperSeesaw where seesawFits:
            return .hopperSeesaw
        case .hopper where hopperByRows != nil:
            return hopperByRows
        case .automatic:
            switch table?.kernelName(rowsPerKVHead: rowsPerKVHead) {
            case "sm80"?: return portable
            case "sm90-lockstep"? where lockstepFits: return .hopperLockstep
            case "sm90-seesaw"? where seesawFits: return .hopperSeesaw
            default: return hopperByRows ?? portable
            }
        default:
            return portable
        }
    }

    /// What runs in this kernel's place while it is compiled on a cold cache: the seesaw kernel's
    /// optimized build takes 5–6 s of NVRTC, the lockstep kernel's under 1 s, and the lockstep
    /// kernel computes any row count (in tiles of 64 rows) with the same arguments, about 1.3×
    /// slower on compute-bound rows (H200, `flashmla tune`). Nil: the kernel compiles quickly.
    var coldStartSubstitute: DecodeKernel? {
        self == .hopperSeesaw ? .hopperLockstep : nil
    }

    /// The kernel's name in `FLASHMLA_KERNEL`'s terms: `sm80`, `sm90-lockstep` or `sm90-seesaw`.
    var name: String {
        switch self {
        case .portable: "sm80"
        case .hopperLockstep: "sm90-lockstep"
        case .hopperSeesaw: "sm90-seesaw"
        }
    }

    /// The translation unit that defines the kernel.
    var unit: KernelCatalog.Unit {
        switch self {
        case let .portable(tile): tile.cache.unit
        case .hopperLockstep: .decodeSM90Lockstep
        case .hopperSeesaw: .decodeSM90Seesaw
        }
    }

    /// The dynamic shared memory a block of the kernel takes, in bytes.
    var sharedMemoryBytes: Int {
        switch self {
        case let .portable(tile): tile.sharedMemoryBytes
        case .hopperLockstep: Self.lockstepSharedMemoryBytes
        case .hopperSeesaw: Self.seesawSharedMemoryBytes
        }
    }

    /// The kernel's entry point for `elementType`.
    func functionName(_ elementType: ElementType) -> String {
        let bf16 = elementType == .bfloat16
        switch self {
        case let .portable(tile): return tile.kernelName(elementType)
        case .hopperLockstep: return bf16 ? "flashmla_decode_sm90_lockstep_bf16" : "flashmla_decode_sm90_lockstep_fp16"
        case .hopperSeesaw: return bf16 ? "flashmla_decode_sm90_seesaw_bf16" : "flashmla_decode_sm90_seesaw_fp16"
        }
    }

    /// A choice forced through `FLASHMLA_KERNEL`, for testing and measurement: `sm80` (the
    /// portable kernel), `sm90` (a Hopper kernel for every row count, picked by rows),
    /// `sm90-lockstep` or `sm90-seesaw`; unset or empty is the automatic choice.
    enum Preference: Equatable {
        case automatic, portable, hopper, hopperLockstep, hopperSeesaw

        /// The values `FLASHMLA_KERNEL` takes, as the error for any other names them.
        static let environmentValues = "sm80, sm90, sm90-lockstep, sm90-seesaw, or unset"

        /// The preference `FLASHMLA_KERNEL=value` names; any other value is an error rather than
        /// a silent automatic choice, so that a misspelt kernel is not measured as another.
        init(environment value: String?) throws(MLAError) {
            switch value {
            case nil, "": self = .automatic
            case "sm80": self = .portable
            case "sm90": self = .hopper
            case "sm90-lockstep": self = .hopperLockstep
            case "sm90-seesaw": self = .hopperSeesaw
            case let other?:
                throw .invalidArgument(argument: "FLASHMLA_KERNEL", expected: Self.environmentValues, given: "\"\(other)\"")
            }
        }
    }
}
