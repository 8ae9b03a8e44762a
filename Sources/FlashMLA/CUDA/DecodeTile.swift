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
