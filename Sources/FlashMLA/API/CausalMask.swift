// FlashMLA's causal rule for decoding, the one copy the host uses (the kernels keep their own).

/// Which cached keys a query token sees. The `s_q` new tokens of a request are its last `s_q`
/// tokens, so with the causal mask query token `qi` (of `0 ..< s_q`) of a request with `seqlen`
/// cached tokens sees keys `0 ..< seqlen − s_q + qi + 1`, none when that is not positive;
/// without it every query token sees all `seqlen` keys.
public enum CausalMask {
    /// How many keys query token `position` (`0 ..< queryLength`) of a request with `seqlen`
    /// cached tokens sees: it sees keys `0 ..< count`. `seqlen − queryLength + position + 1`
    /// clamped to `0 ... seqlen` when `causal`, else `seqlen`.
    public static func visibleKeyCount(seqlen: Int, queryLength: Int, position: Int, causal: Bool) -> Int {
        guard causal else { return seqlen }
        return min(max(seqlen - queryLength + position + 1, 0), seqlen)
    }
}
