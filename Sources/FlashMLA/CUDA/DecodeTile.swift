/// The shape of one decode block of the portable kernel: how many query rows it takes and
/// how many pages it keeps in flight. Mirrors `FMLA_SMEM` in `Kernels/sm80/decode.cu`.
struct DecodeTile: Equatable {
    /// Query rows per block: 16, 32 or 64.
    var rows: Int
    /// Pages in the cp.async ring: 2, or 1 where shared memory is short.
    var stages: Int

    /// Dynamic shared memory, in bytes: Q tile, page ring, probabilities, row exchange.
    var sharedMemoryBytes: Int {
        let rowBytes = DecodeProblem.headDim * 2
        return rows * rowBytes + stages * TileSchedule.blockSize * rowBytes + rows * 128 + (8 / (rows / 16)) * rows * 4
    }

    /// The kernel's name for `elementType`.
    func kernelName(_ elementType: ElementType) -> String {
        "flashmla_decode_sm80_\(elementType == .bfloat16 ? "bf16" : "fp16")_m\(rows)_s\(stages)"
    }

    /// The smallest tile that holds `rowsPerKVHead` rows (at most 64), with two stages if
    /// `sharedMemoryLimit` allows; smaller tiles where even one stage does not fit.
    static func choose(rowsPerKVHead: Int, sharedMemoryLimit: Int) -> DecodeTile? {
        let wanted = rowsPerKVHead <= 16 ? 16 : rowsPerKVHead <= 32 ? 32 : 64
        for rows in [64, 32, 16] where rows <= wanted {
            for stages in [2, 1] {
                let tile = DecodeTile(rows: rows, stages: stages)
                if tile.sharedMemoryBytes <= sharedMemoryLimit { return tile }
            }
        }
        return nil
    }
}

/// Which decode kernel runs a problem.
enum DecodeKernel: Equatable {
    /// The portable mma.sync kernel with this tile.
    case portable(DecodeTile)
    /// The Hopper kernel (TMA and wgmma, 64-row tiles).
    case hopper

    /// Dynamic shared memory of the Hopper kernel: Q, two pages, two mbarriers, the row
    /// exchange, the two P halves, and 1024 bytes to align the base (`FMLA_SM90_SMEM` in
    /// `Kernels/sm90/decode.cu`).
    static let hopperSharedMemoryBytes = 3 * 9 * 8192 + 16 + 2 * 64 * 4 + 2 * 64 * 72 + 1024

    /// The kernel for `rowsPerKVHead` query rows on a device of `computeCapability` with
    /// `sharedMemoryLimit` bytes per block. The Hopper kernel takes the tiles of 64 rows
    /// or more (where the portable kernel is held back by mma.sync) unless `preference`
    /// says otherwise; the portable kernel takes the memory-bound small tiles.
    static func choose(rowsPerKVHead: Int, computeCapability: (major: Int, minor: Int), sharedMemoryLimit: Int,
                       preference: Preference) -> DecodeKernel? {
        let hopperFits = computeCapability == (9, 0) && sharedMemoryLimit >= hopperSharedMemoryBytes
        switch preference {
        case .hopper where hopperFits:
            return .hopper
        case .automatic where hopperFits && rowsPerKVHead > 16:
            return .hopper
        default:
            return DecodeTile.choose(rowsPerKVHead: rowsPerKVHead, sharedMemoryLimit: sharedMemoryLimit).map { .portable($0) }
        }
    }

    /// A choice forced through `FLASHMLA_KERNEL` (`sm80`, `sm90`), for testing and measurement.
    enum Preference: Equatable {
        case automatic, portable, hopper

        init(environment value: String?) {
            switch value {
            case "sm80": self = .portable
            case "sm90": self = .hopper
            default: self = .automatic
            }
        }
    }
}
