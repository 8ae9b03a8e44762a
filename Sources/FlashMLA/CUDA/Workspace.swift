// Workspace: the device memory a decode call needs besides its inputs and outputs.
import CUDADriver
import Synchronization

/// Device memory a decode call needs besides its inputs and outputs: the split
/// accumulators (a partial output and lse per split, query row and KV head) and a flag the
/// kernels raise when they meet an out-of-range `cacheSeqlens` or block-table entry.
///
/// Keep one workspace across the layers of a decode step (FlashMLA allocates these on every
/// call; we don't). ``reserve(splits:queryRows:)`` grows it ahead of time; a decode call
/// that finds it too small grows it once, which is an allocation: reserve before capturing
/// a CUDA graph.
public final class Workspace: Sendable {
    /// The device the memory lives on.
    public let device: Device
    private let errorFlag: DeviceAllocation
    private let accumulators = Mutex(Accumulators())

    /// The split accumulators and the rows they hold.
    private struct Accumulators {
        var allocation: DeviceAllocation?
        var capacityRows = 0
    }

    /// Creates an empty workspace on `device`.
    public init(device: Device) throws(MLAError) {
        self.device = device
        errorFlag = try DeviceAllocation(device: device, byteCount: 4)
        try cuda { () throws(CUDAError) in try errorFlag.buffer.fill(byte: 0) }
    }

    /// Bytes of one accumulator row: 512 fp32 outputs and one fp32 lse.
    static let bytesPerRow = (DecodeProblem.headDimV + 1) * 4

    /// Makes room for `splits` splits of `queryRows` (= `h_q · s_q`) rows each.
    public func reserve(splits: Int, queryRows: Int) throws(MLAError) {
        _ = try reserveAccumulators(splits: splits, queryRows: queryRows)
    }

    /// Room for any schedule of `metadata`'s shape with `queryRows` rows per split.
    public func reserve(for metadata: MLAMetadata, queryRows: Int) throws(MLAError) {
        try reserve(splits: metadata.maxTotalSplits, queryRows: queryRows)
    }

    /// Makes room as ``reserve(for:queryRows:)`` does and returns the addresses of the output
    /// accumulators `[capacity rows, 512]` and the lse accumulators `[capacity rows]`, in one
    /// step under the lock (so no other call's growth can come between the two).
    func reservedAccumulators(for metadata: MLAMetadata, queryRows: Int) throws(MLAError) -> (out: UInt64, lse: UInt64) {
        try reserveAccumulators(splits: metadata.maxTotalSplits, queryRows: queryRows)
    }

    /// Grows the accumulators to `splits · queryRows` rows when they hold fewer; returns their addresses.
    private func reserveAccumulators(splits: Int, queryRows: Int) throws(MLAError) -> (out: UInt64, lse: UInt64) {
        let rows = splits * queryRows
        return try accumulators.withLock { state throws(MLAError) -> (out: UInt64, lse: UInt64) in
            if rows > state.capacityRows {
                state.allocation = try DeviceAllocation(device: device, byteCount: rows * Workspace.bytesPerRow)
                state.capacityRows = rows
            }
            let base = state.allocation?.address ?? 0
            return (base, base + UInt64(state.capacityRows * DecodeProblem.headDimV * 4))
        }
    }

    /// The device address of the error flag.
    var errorFlagAddress: UInt64 { errorFlag.address }

    /// Waits for the device, then returns and clears the problems the kernels met since the
    /// last call: out-of-range sequence lengths or block ids (their tokens were skipped), and for
    /// sparse decoding `topkLength` entries outside `0...topk` (clamped) and indices outside
    /// `-1..<numPages·pageSize` (skipped): the checks of device-resident contents, which a call
    /// cannot make on the host without waiting for the device.
    public func takeErrors() throws(MLAError) -> [String] {
        var flag: Int32 = 0
        try cuda { () throws(CUDAError) in
            try device.synchronize()
            try withUnsafeMutableBytes(of: &flag) { bytes throws(CUDAError) in try errorFlag.buffer.copy(to: bytes) }
            try errorFlag.buffer.fill(byte: 0)
        }
        var problems: [String] = []
        if flag & 1 != 0 { problems.append("a cacheSeqlens entry was outside 0...maxPages·pageSize (sparse: a topkLength entry outside 0...topk)") }
        if flag & 2 != 0 { problems.append("a blockTable entry was outside 0..<numPages") }
        if flag & 4 != 0 { problems.append("an indices entry was outside -1..<numPages·pageSize") }
        return problems
    }
}
