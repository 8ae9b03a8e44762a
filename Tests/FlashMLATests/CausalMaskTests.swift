// Tests of CausalMask, the host's one statement of the causal rule.
import Testing
import FlashMLA

@Suite struct CausalMaskTests {
    /// The last query token sees every key; each earlier one a key fewer.
    @Test func lastTokenSeesAllEarlierOnesFewer() {
        let counts = (0 ..< 4).map { CausalMask.visibleKeyCount(seqlen: 10, queryLength: 4, position: $0, causal: true) }
        #expect(counts == [7, 8, 9, 10])
    }

    /// Requests shorter than the query see nothing from their first tokens, never a negative count.
    @Test func shortRequestsClampAtZero() {
        let counts = (0 ..< 4).map { CausalMask.visibleKeyCount(seqlen: 2, queryLength: 4, position: $0, causal: true) }
        #expect(counts == [0, 0, 1, 2])
        #expect(CausalMask.visibleKeyCount(seqlen: 0, queryLength: 1, position: 0, causal: true) == 0)
    }

    /// Without the mask every token sees the whole request.
    @Test func notCausalSeesEverything() {
        for position in 0 ..< 3 {
            #expect(CausalMask.visibleKeyCount(seqlen: 5, queryLength: 3, position: position, causal: false) == 5)
        }
    }
}
