// SplitMerge: how partial attentions over disjoint token ranges combine.
#if canImport(Glibc)
import Glibc
#endif

/// How partial attentions of one row over disjoint token ranges combine into the attention
/// over their union: FlashMLA's combine step.
///
/// With partials `(lse_i, out_i)` (see ``PartialAttention``):
/// `lse = log Σ exp(lse_i)` and `out = Σ exp(lse_i − lse) · out_i`.
enum SplitMerge {
    /// `log Σ exp(lse_i)`, computed with the largest `lse_i` subtracted; `−∞` when every
    /// `lse_i` is `−∞` (the row saw no key in any partial).
    static func logSumExp(_ lses: [Float]) -> Float {
        let largest = lses.max() ?? -.infinity
        guard largest > -.infinity else { return -.infinity }
        var sum: Float = 0
        for lse in lses where lse > -.infinity { sum += exp(lse - largest) }
        return largest + log(sum)
    }

    /// Merges the partial rows `outs[i]` (each `width` floats) with log-sum-exps `lses[i]`
    /// into `destination` and returns the merged log-sum-exp (`−∞`, with a zero row, when
    /// no partial saw a key). Partials that saw no key are skipped, never multiplied.
    static func merge(lses: [Float], outs: [UnsafePointer<Float>], width: Int,
                      into destination: UnsafeMutablePointer<Float>) -> Float {
        destination.initialize(repeating: 0, count: width)
        let total = logSumExp(lses)
        guard total > -.infinity else { return total }
        for (lse, out) in zip(lses, outs) where lse > -.infinity {
            VectorMath.addScaled(out, exp(lse - total), to: destination, count: width)
        }
        return total
    }

    /// The log-sum-exp FlashMLA reports for a final row: `+∞` for a row that saw no key.
    static func reportedLSE(_ lse: Float) -> Float {
        lse == -.infinity ? .infinity : lse
    }
}
