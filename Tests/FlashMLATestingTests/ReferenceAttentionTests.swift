// Tests of ReferenceAttention on problems small enough to work out by hand.
import FlashMLA
import FlashMLATesting
import Foundation
import Testing

/// The Float64 oracle `check` holds backends to, on problems small enough to work out by hand.
@Suite struct ReferenceAttentionTests {
    /// A random problem whose query and key rows the tests then overwrite with chosen values.
    private func problem(lengths: [Int32], queryLength: Int = 1, queryHeads: Int = 1, kvHeads: Int = 1,
                         causal: Bool = false, seed: UInt64 = 1) -> RandomProblem {
        RandomProblem(ProblemConfig(cacheSeqlens: lengths, queryLength: queryLength, queryHeads: queryHeads,
                                    kvHeads: kvHeads, causal: causal, elementType: .bfloat16), seed: seed)
    }

    /// Writes a query row (576 values; missing ones are 0).
    private func setQuery(_ problem: RandomProblem, request: Int, qi: Int, head: Int, _ values: [Int: Float]) {
        let q = HostElements(problem.q)
        let base = q.offset([request, qi, head, 0])
        for i in 0..<576 { q[offset: base + i] = values[i] ?? 0 }
    }

    /// The element offset of a token's key row, found through the block table.
    private func keyBase(_ problem: RandomProblem, request: Int, token: Int, kvHead: Int) -> Int {
        let table = HostElements(problem.blockTable), k = HostElements(problem.kCache)
        let page = Int(table.int32(offset: table.offset([request, token / 64])))
        return k.offset([page, token % 64, kvHead, 0])
    }

    /// Writes a key row: `value(i)` for each of the 576 dimensions (the first 512 are also V).
    private func setKey(_ problem: RandomProblem, request: Int, token: Int, kvHead: Int = 0, _ value: (Int) -> Float) {
        let k = HostElements(problem.kCache)
        let base = keyBase(problem, request: request, token: token, kvHead: kvHead)
        for i in 0..<576 { k[offset: base + i] = value(i) }
    }

    @Test func oneKeyGivesItsValueAndScaledScore() {
        let p = problem(lengths: [1])
        // q·k = 4 · (0.5 · 1) over the value dimensions + 0.25 · 4 in a rope dimension = 3.
        setQuery(p, request: 0, qi: 0, head: 0, [0: 0.5, 1: 0.5, 2: 0.5, 3: 0.5, 570: 0.25])
        setKey(p, request: 0, token: 0) { i in
            i < 4 ? 1 : i == 570 ? 4 : Float(i % 9 - 4) * 0.25  // all exact in bf16
        }
        let row = ReferenceAttention(problem: p, softmaxScale: 0.5).row(request: 0, qi: 0, head: 0)
        #expect(row.lse == 1.5)
        #expect(row.out.count == 512)
        let expected = (0..<512).map { i in i < 4 ? 1.0 : Double(i % 9 - 4) * 0.25 }
        #expect(row.out == expected)
    }

    /// Two new tokens over a two-token cache, both with the same query. Scores (scale 0.5):
    /// token 0 → 0, token 1 → 2. V0 = +1, V1 = −1.
    private func twoKeyReference(causal: Bool) -> ReferenceAttention {
        let p = problem(lengths: [2], queryLength: 2, causal: causal)
        for qi in 0..<2 { setQuery(p, request: 0, qi: qi, head: 0, [512: 1]) }
        setKey(p, request: 0, token: 0) { i in i < 512 ? 1 : 0 }
        setKey(p, request: 0, token: 1) { i in i < 512 ? -1 : i == 512 ? 4 : 0 }
        return ReferenceAttention(problem: p, softmaxScale: 0.5)
    }

    @Test func twoKeysSoftmaxAndCausalVisibility() {
        let reference = twoKeyReference(causal: true)

        // The first new token sees only the first key.
        let first = reference.row(request: 0, qi: 0, head: 0)
        #expect(first.lse == 0)
        #expect(first.out.allSatisfy { $0 == 1 })

        // The second sees both: lse = log(1 + e²), out = (1 − e²) / (1 + e²) = −tanh 1.
        let second = reference.row(request: 0, qi: 1, head: 0)
        #expect(abs(second.lse - log(1 + exp(2.0))) < 1e-12)
        #expect(second.out.allSatisfy { abs($0 + tanh(1.0)) < 1e-12 })
    }

    @Test func nonCausalRowsSeeEveryKey() {
        let reference = twoKeyReference(causal: false)
        for qi in 0..<2 {
            let row = reference.row(request: 0, qi: qi, head: 0)
            #expect(abs(row.lse - log(1 + exp(2.0))) < 1e-12)
            #expect(row.out.allSatisfy { abs($0 + tanh(1.0)) < 1e-12 })
        }
    }

    @Test func allRowsLaysOutEveryRowAsFlashMLADoes() {
        let p = problem(lengths: [0, 3, 70], queryLength: 2, queryHeads: 4, kvHeads: 2, causal: true, seed: 8)
        let reference = ReferenceAttention(problem: p, softmaxScale: 0.05)
        let all = reference.allRows()
        #expect(all.out.count == 3 * 2 * 4 * 512 && all.lse.count == 3 * 4 * 2)
        for request in 0..<3 { for qi in 0..<2 { for head in 0..<4 {
            let row = reference.row(request: request, qi: qi, head: head)
            let base = ((request * 2 + qi) * 4 + head) * 512
            #expect(Array(all.out[base ..< base + 512]) == row.out, "out[\(request)][\(qi)][\(head)]")
            #expect(all.lse[(request * 4 + head) * 2 + qi] == row.lse, "lse[\(request)][\(head)][\(qi)]")
        } } }
    }

    @Test func rowsWithoutVisibleKeysGiveZeroAndInfinity() {
        // Request 0 has nothing cached; in request 1 (one token, two new queries, causal) the first
        // query token sees no key.
        let p = problem(lengths: [0, 1], queryLength: 2, causal: true)
        let reference = ReferenceAttention(problem: p, softmaxScale: 0.1)
        for qi in 0..<2 {
            let empty = reference.row(request: 0, qi: qi, head: 0)
            #expect(empty.lse == .infinity)
            #expect(empty.out == [Double](repeating: 0, count: 512))
        }
        let masked = reference.row(request: 1, qi: 0, head: 0)
        #expect(masked.lse == .infinity)
        #expect(masked.out == [Double](repeating: 0, count: 512))
        let seen = reference.row(request: 1, qi: 1, head: 0)
        #expect(seen.lse.isFinite)
        #expect(seen.out.allSatisfy { $0.isFinite })
        #expect(seen.out.contains { $0 != 0 })
    }

    @Test func queryHeadsShareTheirGroupsKVHead() {
        // h_q 4 over h_kv 2: heads 0, 1 read KV head 0; heads 2, 3 read KV head 1.
        let p = problem(lengths: [1], queryHeads: 4, kvHeads: 2)
        for head in 0..<4 { setQuery(p, request: 0, qi: 0, head: head, [512: Float(head + 1)]) }
        setKey(p, request: 0, token: 0, kvHead: 0) { i in i < 512 ? 1 : i == 512 ? 1 : 0 }
        setKey(p, request: 0, token: 0, kvHead: 1) { i in i < 512 ? -1 : i == 512 ? 2 : 0 }
        let reference = ReferenceAttention(problem: p, softmaxScale: 1)
        let expectedLSE: [Double] = [1, 2, 6, 8]  // (head + 1) · k[512] of its KV head
        for head in 0..<4 {
            let row = reference.row(request: 0, qi: 0, head: head)
            #expect(row.lse == expectedLSE[head], "head \(head)")
            #expect(row.out.allSatisfy { $0 == (head < 2 ? 1 : -1) }, "head \(head)")
        }
    }

    @Test func zeroQueryAveragesValuesAcrossPages() {
        // With q = 0 every score is 0: lse = log(visible), out = the mean of the visible values,
        // read through the shuffled block table across page boundaries.
        let p = problem(lengths: [65, 130], queryLength: 2, causal: true, seed: 5)
        for request in 0..<2 { for qi in 0..<2 { setQuery(p, request: request, qi: qi, head: 0, [:]) } }
        let reference = ReferenceAttention(problem: p, softmaxScale: 0.0625)
        let k = HostElements(p.kCache)
        for request in 0..<2 {
            let length = [65, 130][request]
            for qi in 0..<2 {
                let visible = length - 1 + qi
                var mean = [Double](repeating: 0, count: 512)
                for token in 0..<visible {
                    let base = keyBase(p, request: request, token: token, kvHead: 0)
                    for i in 0..<512 { mean[i] += Double(k[offset: base + i]) / Double(visible) }
                }
                let row = reference.row(request: request, qi: qi, head: 0)
                #expect(abs(row.lse - log(Double(visible))) < 1e-12, "request \(request) qi \(qi)")
                let error = zip(row.out, mean).map { abs($0 - $1) }.max() ?? .nan
                #expect(error < 1e-12, "request \(request) qi \(qi): max error \(error)")
            }
        }
    }

    // MARK: Agreement

    private static let reference: [Double] = (0..<512).map { Double(Float(sin(Double($0) * 0.37))) }

    @Test func identicalResultsAgreeExactly() {
        var agreement = Agreement()
        let out = Self.reference.map(Float.init)
        agreement.add(out: out, reference: Self.reference, lse: 3.25, referenceLSE: 3.25)
        agreement.add(out: out.map { -$0 }, reference: Self.reference.map { -$0 }, lse: -1.5, referenceLSE: -1.5)
        // A row with no key: zero output, +∞ on both sides.
        agreement.add(out: [Float](repeating: 0, count: 512), reference: [Double](repeating: 0, count: 512),
                      lse: .infinity, referenceLSE: .infinity)
        #expect(agreement.outCosDiff == 0)
        #expect(agreement.lseCosDiff == 0)
        #expect(agreement.maxLSEDifference == 0)
        #expect(agreement.infinityMismatches == 0)
        #expect(agreement.nonFinite == 0)
        #expect(agreement.passes)
    }

    @Test func emptyAgreementPasses() {
        let agreement = Agreement()
        #expect(agreement.outCosDiff == 0)
        #expect(agreement.lseCosDiff == 0)
        #expect(agreement.passes)
    }

    @Test func perturbedOutputFails() {
        var agreement = Agreement()
        var out = Self.reference.map(Float.init)
        for i in stride(from: 0, to: 512, by: 4) { out[i] += 0.5 }
        agreement.add(out: out, reference: Self.reference, lse: 2, referenceLSE: 2)
        #expect(agreement.outCosDiff > 1e-5)
        #expect(agreement.nonFinite == 0)
        #expect(!agreement.passes)
    }

    @Test func roundingSizedNoisePasses() {
        var agreement = Agreement()
        let out = Self.reference.enumerated().map { i, y in Float(y * (1 + (i % 2 == 0 ? 1e-4 : -1e-4))) }
        agreement.add(out: out, reference: Self.reference, lse: 2.0002, referenceLSE: 2)
        #expect(agreement.outCosDiff < 1e-7)
        #expect(agreement.outCosDiff > 0)
        #expect(agreement.maxLSEDifference < 1e-3)
        #expect(agreement.passes)
    }

    @Test func lseDifferenceBound() {
        var agreement = Agreement()
        let out = Self.reference.map(Float.init)
        agreement.add(out: out, reference: Self.reference, lse: 5.002, referenceLSE: 5)
        #expect(abs(agreement.maxLSEDifference - 0.002) < 1e-6)
        #expect(agreement.outCosDiff == 0)
        #expect(!agreement.passes)
    }

    @Test func nanAndInfinityInOutputAreCounted() {
        var agreement = Agreement()
        var out = Self.reference.map(Float.init)
        out[3] = .nan
        out[7] = .infinity
        out[9] = -.infinity
        agreement.add(out: out, reference: Self.reference, lse: 1, referenceLSE: 1)
        #expect(agreement.nonFinite == 3)
        #expect(!agreement.passes)
        // The finite rest still agrees.
        #expect(agreement.outCosDiff < 1e-12)
    }

    @Test func nanLSEIsCounted() {
        var agreement = Agreement()
        agreement.add(out: [1, 2], reference: [1, 2], lse: .nan, referenceLSE: 1)
        #expect(agreement.nonFinite == 1)
        #expect(agreement.infinityMismatches == 0)
        #expect(!agreement.passes)
    }

    @Test func infinityMismatchesAreCounted() {
        var agreement = Agreement()
        let zeros = [Float](repeating: 0, count: 4), zeroReference = [Double](repeating: 0, count: 4)
        agreement.add(out: zeros, reference: zeroReference, lse: .infinity, referenceLSE: 1.5)  // +∞ where a key was seen
        #expect(agreement.infinityMismatches == 1)
        agreement.add(out: zeros, reference: zeroReference, lse: 1.5, referenceLSE: .infinity)  // finite where none was
        #expect(agreement.infinityMismatches == 2)
        agreement.add(out: zeros, reference: zeroReference, lse: -.infinity, referenceLSE: .infinity)
        #expect(agreement.infinityMismatches == 3)
        agreement.add(out: zeros, reference: zeroReference, lse: .infinity, referenceLSE: .infinity)
        #expect(agreement.infinityMismatches == 3)
        #expect(agreement.nonFinite == 0)
        #expect(agreement.maxLSEDifference == 0)
        #expect(!agreement.passes)
    }

    @Test func flagsCount() {
        var agreement = Agreement()
        agreement.flagNonFinite()
        #expect(agreement.nonFinite == 1)
        #expect(!agreement.passes)
        var other = Agreement()
        other.flagInfinityMismatch()
        other.flagInfinityMismatch()
        #expect(other.infinityMismatches == 2)
        #expect(!other.passes)
    }
}
