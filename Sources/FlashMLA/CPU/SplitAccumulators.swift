// SplitAccumulators: Float32 storage for the partials of split requests.
/// Float32 storage for the partials of split requests: FlashMLA's `lse_accum` and `o_accum`.
///
/// Slot `numSplits[r] + split` holds split `split` of request `r`; each slot has, per KV
/// head, `rows` partial log-sum-exps and `rows × 512` partial outputs. Tasks write disjoint
/// slots, so it is shared between threads without locks.
final class SplitAccumulators: @unchecked Sendable {
    private let kvHeads: Int
    private let rows: Int
    private let lse: UnsafeMutableBufferPointer<Float>
    private let out: UnsafeMutableBufferPointer<Float>

    /// Storage for `slots` splits of `kvHeads` heads of `rows` rows each.
    init(slots: Int, kvHeads: Int, rows: Int) {
        self.kvHeads = kvHeads
        self.rows = rows
        lse = .allocate(capacity: slots * kvHeads * rows)
        lse.initialize(repeating: .nan)
        out = .allocate(capacity: slots * kvHeads * rows * DecodeProblem.headDimV)
        out.initialize(repeating: .nan)
    }

    deinit {
        lse.deallocate()
        out.deallocate()
    }

    private func rowIndex(slot: Int, kvHead: Int, row: Int) -> Int { (slot * kvHeads + kvHead) * rows + row }

    /// Stores `partial` as slot `slot` of `kvHead`.
    func store(_ partial: PartialAttention, slot: Int, kvHead: Int) {
        let first = rowIndex(slot: slot, kvHead: kvHead, row: 0)
        for row in 0 ..< rows { lse[first + row] = partial.lse[row] }
        let width = DecodeProblem.headDimV
        for index in 0 ..< rows * width { out[first * width + index] = partial.out[index] }
    }

    /// The partial log-sum-exp of `row` in `slot`.
    func lse(slot: Int, kvHead: Int, row: Int) -> Float { lse[rowIndex(slot: slot, kvHead: kvHead, row: row)] }

    /// The 512 partial outputs of `row` in `slot`.
    func out(slot: Int, kvHead: Int, row: Int) -> UnsafePointer<Float> {
        UnsafePointer(out.baseAddress! + rowIndex(slot: slot, kvHead: kvHead, row: row) * DecodeProblem.headDimV)
    }
}
