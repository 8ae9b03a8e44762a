// DecodeTile, DecodeKernel, PortableCache and DecodeSharedMemory: which decode kernel runs, how it reads the cache, and the shared memory each takes.
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
    /// Sparse decoding from FlashMLA HEAD's MODEL1 tokens (584 bytes, page-grouped, `d_qk = 512`),
    /// with or without an extra cache (`sm80/decode_sparse.cu`).
    case sparseModel1

    /// The reading a problem with this format and page size needs (`sparse`: a sparse decode,
    /// whose format is native or DeepSeek-V3.2's).
    init(format: KVCacheFormat, pageSize: Int, sparse: Bool = false) {
        switch format {
        case .native: self = sparse ? .sparse : pageSize == TileSchedule.blockSize ? .page64 : .paged
        case .fp8PerTensor: self = .fp8
        case .fp8DeepSeek: self = sparse ? .sparseFP8DeepSeek : .fp8DeepSeek
        case .fp8Model1: self = .sparseModel1
        }
    }

    /// Whether raw FP8 bytes are staged and converted (`stages` then counts raw stages).
    var isFP8: Bool { self == .fp8 || self == .fp8DeepSeek || self == .sparseFP8DeepSeek || self == .sparseModel1 }

    /// Whether the unit runs the sparse mode (each query token its own index list).
    var isSparse: Bool { self == .sparse || self == .sparseFP8DeepSeek || self == .sparseModel1 }

    /// The stage counts the unit defines for a tile of `rows`, most first (``DecodeSharedMemory/portable``).
    func stageChoices(rows: Int) -> [Int] {
        DecodeSharedMemory.portable[self]?[rows]?.keys.sorted(by: >) ?? []
    }

    /// The translation unit.
    var unit: KernelCatalog.Unit {
        switch self {
        case .page64: .decodeSM80
        case .paged: .decodeSM80Paged
        case .fp8, .fp8DeepSeek: .decodeSM80FP8
        case .sparse, .sparseFP8DeepSeek, .sparseModel1: .decodeSM80Sparse
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
        case .sparseModel1: "sparse_model1_"
        }
    }
}

/// The shape of one decode block of the portable kernel: how many query rows it takes and
/// how many pages it keeps in flight (`Kernels/sm80/decode.cuh`, its entry points in the unit
/// of ``cache``).
struct DecodeTile: Equatable {
    /// Query rows per block: 16, 32 or 64.
    var rows: Int
    /// Pages in the cp.async ring: 2, or 1 where shared memory is short. For FP8 caches, raw
    /// 64-token stages ahead of the one converted page: up to 3 (16 rows) or 2.
    var stages: Int
    /// How the cache is read.
    var cache: PortableCache = .page64

    /// Dynamic shared memory, in bytes (``DecodeSharedMemory/portable``); the tile must be one
    /// its unit defines.
    var sharedMemoryBytes: Int {
        guard let bytes = DecodeSharedMemory.portable[cache]?[rows]?[stages] else {
            preconditionFailure("\(cache) defines no tile of \(rows) rows and \(stages) stages")
        }
        return bytes
    }

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
    /// The Hopper sparse kernel (`sm90/decode_sparse.cu`): a producer warpgroup gathers each
    /// query token's 64-token blocks of a sparse cache (`cache`: ``PortableCache/sparse`` or
    /// ``PortableCache/sparseFP8DeepSeek``) and two warpgroups compute with wgmma. `pair`: the
    /// query token's two 64-row tiles (h_q 65–128) run as a cluster of two blocks that share the
    /// gathered tokens, each converting half (FP8 caches only).
    case hopperSparse(PortableCache, pair: Bool = false)

    /// The kernel for `rowsPerKVHead` query rows on a device of `computeCapability` with
    /// `sharedMemoryLimit` bytes per block, unless `preference` says otherwise. Automatic: the
    /// device's `table` where it covers the row count and names a kernel that fits, else the
    /// rule (``DecodeKernelTable``): on sm_90 the lockstep kernel up to 64 rows (memory-bound) and
    /// the seesaw kernel above (compute-bound); elsewhere the portable kernel. The Hopper kernels
    /// read the cache through a tensor map of 64-token pages in `q`'s type: for any other `cache`
    /// (another page size, FP8) the portable kernel runs, whatever `preference` or `table` ask.
    /// Sparse decoding from a cache in `q`'s type or DeepSeek-V3.2's FP8 layout runs the Hopper
    /// sparse kernel on sm_90 where it fits, unless `preference` is ``Preference/portable``, as a
    /// pair of blocks for FP8 tokens and 65–128 rows (`rowsPerKVHead` is then h_q); MODEL1 caches
    /// and other devices run the portable kernel.
    static func choose(rowsPerKVHead: Int, computeCapability: (major: Int, minor: Int), sharedMemoryLimit: Int,
                       preference: Preference, table: DecodeKernelTable? = nil, cache: PortableCache = .page64) -> DecodeKernel? {
        if cache == .sparse || cache == .sparseFP8DeepSeek, computeCapability == (9, 0), preference != .portable,
           sharedMemoryLimit >= DecodeSharedMemory.hopperSparse {
            return .hopperSparse(cache, pair: cache == .sparseFP8DeepSeek && rowsPerKVHead > 64 && rowsPerKVHead <= 128)
        }
        let hopper = computeCapability == (9, 0) && cache == .page64
        let lockstepFits = hopper && sharedMemoryLimit >= DecodeSharedMemory.hopperLockstep
        let seesawFits = hopper && sharedMemoryLimit >= DecodeSharedMemory.hopperSeesaw
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

    /// The kernel's name in `FLASHMLA_KERNEL`'s terms: `sm80`, `sm90-lockstep` or `sm90-seesaw`;
    /// the sparse kernel, which `FLASHMLA_KERNEL` does not force, is `sm90-sparse` or
    /// `sm90-sparse-pair`.
    var name: String {
        switch self {
        case .portable: "sm80"
        case .hopperLockstep: "sm90-lockstep"
        case .hopperSeesaw: "sm90-seesaw"
        case let .hopperSparse(_, pair): pair ? "sm90-sparse-pair" : "sm90-sparse"
        }
    }

    /// The translation unit that defines the kernel.
    var unit: KernelCatalog.Unit {
        switch self {
        case let .portable(tile): tile.cache.unit
        case .hopperLockstep: .decodeSM90Lockstep
        case .hopperSeesaw: .decodeSM90Seesaw
        case .hopperSparse: .decodeSM90Sparse
        }
    }

    /// The dynamic shared memory a block of the kernel takes, in bytes (``DecodeSharedMemory``).
    var sharedMemoryBytes: Int {
        switch self {
        case let .portable(tile): tile.sharedMemoryBytes
        case .hopperLockstep: DecodeSharedMemory.hopperLockstep
        case .hopperSeesaw: DecodeSharedMemory.hopperSeesaw
        case .hopperSparse: DecodeSharedMemory.hopperSparse
        }
    }

    /// The kernel's entry point for `elementType`.
    func functionName(_ elementType: ElementType) -> String {
        let bf16 = elementType == .bfloat16
        switch self {
        case let .portable(tile): return tile.kernelName(elementType)
        case .hopperLockstep: return bf16 ? "flashmla_decode_sm90_lockstep_bf16" : "flashmla_decode_sm90_lockstep_fp16"
        case .hopperSeesaw: return bf16 ? "flashmla_decode_sm90_seesaw_bf16" : "flashmla_decode_sm90_seesaw_fp16"
        case let .hopperSparse(cache, pair):
            return "flashmla_decode_sm90_sparse_\(cache == .sparseFP8DeepSeek ? "fp8ds_" : "")\(pair ? "pair_" : "")\(bf16 ? "bf16" : "fp16")"
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

/// The dynamic shared memory of every decode entry point, in bytes, as the kernels define it: a
/// kernel's shared memory is a struct it owns (`DecodeStorage` in `sm80/decode.cuh`,
/// `LockstepStorage` and `SeesawStorage` in `sm90/`), and each entry point exports its size as
/// `<name>_smem_bytes` (the Hopper kernels' with the 1024 bytes they align their storage by).
///
/// Why the host keeps a copy: ``DecodeKernel/choose(rowsPerKVHead:computeCapability:sharedMemoryLimit:preference:table:cache:)``
/// must know what fits the device's opt-in limit before a unit is compiled. The seesaw kernel
/// compiles in the background while the lockstep kernel runs in its place (D46), so its size
/// cannot wait for its module; and the tile of a portable unit is chosen among its entry points
/// by size. So these numbers choose, and nothing else: `KernelLibrary` reads each kernel's export
/// from the compiled module when it loads the kernel, launches with that, and fails naming both
/// numbers if this table says otherwise (a kernel changed without its entry here); CI compiles a
/// probe through NVRTC that asserts every entry equals its export (`SharedMemoryTableTests`).
enum DecodeSharedMemory {
    /// `flashmla_decode_sm90_lockstep_*`: Q, two pages, an mbarrier a box of each, the row exchange, the two P halves.
    static let hopperLockstep = 232_080
    /// `flashmla_decode_sm90_seesaw_*`: Q, two pages, the P1 box, 256 bytes of mbarriers, row maxima and sums.
    static let hopperSeesaw = 231_680
    /// `flashmla_decode_sm90_sparse[_fp8ds]_*`: Q, two stages of 64 gathered tokens, the P box, the
    /// rescale factors, row sums and maxima, validity bytes, eight mbarriers.
    static let hopperSparse = 231_360

    /// The portable entry points by cache reading, then rows, then stages, as each unit defines
    /// them: `flashmla_decode_sm80_<prefix><type>_m<rows>_s<stages>` (``DecodeTile/kernelName(_:)``).
    /// Missing on purpose: 64-row two-stage tiles of the paged 16-bit and sparse units (a
    /// register over 255 on sm_90a: they would spill), and 64-row sparse FP8 tiles (one stage
    /// spills on sm_90a, two do not fit in 227 KiB).
    static let portable: [PortableCache: [Int: [Int: Int]]] = [
        .page64: [16: [1: 94_720, 2: 168_448], 32: [1: 115_200, 2: 188_928], 64: [1: 156_160, 2: 229_888]],
        .paged: [16: [1: 94_720, 2: 168_448], 32: [1: 115_200, 2: 188_928], 64: [1: 156_160]],
        .fp8: [16: [1: 131_584, 2: 168_448, 3: 205_312], 32: [1: 152_064, 2: 188_928], 64: [1: 193_024, 2: 229_888]],
        .fp8DeepSeek: [16: [1: 139_776, 2: 184_832, 3: 229_888], 32: [1: 160_256, 2: 205_312], 64: [1: 201_216, 2: 246_272]],
        .sparse: [16: [1: 94_976, 2: 168_704], 32: [1: 115_456, 2: 189_184], 64: [1: 156_416]],
        .sparseFP8DeepSeek: [16: [1: 140_032, 2: 185_088, 3: 230_144], 32: [1: 160_512, 2: 205_568]],
        .sparseModel1: [16: [1: 140_032, 2: 185_088, 3: 230_144], 32: [1: 160_512, 2: 205_568]],
    ]
}
