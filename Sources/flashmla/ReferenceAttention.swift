import Foundation
import FlashMLA

/// Float64 attention for single query rows, written plainly: the oracle `check` holds
/// every backend to. It reads the same rounded inputs the backend read (for an FP8 cache, the
/// values its codes stand for), token t of a request in slot t % P of page blockTable[t / P].
struct ReferenceAttention {
    let problem: RandomProblem
    let softmaxScale: Double

    /// The output (512 values) and natural-log lse of query token `qi`, head `head` of `request`.
    func row(request: Int, qi: Int, head: Int) -> (out: [Double], lse: Double) {
        let config = problem.config
        let d = DecodeProblem.headDim, dv = DecodeProblem.headDimV, page = config.pageSize
        let seqlen = Int(config.cacheSeqlens[request])
        let visible = CausalMask.visibleKeyCount(seqlen: seqlen, queryLength: config.queryLength, position: qi, causal: config.causal)
        guard visible > 0 else { return ([Double](repeating: 0, count: dv), .infinity) }
        let kvHead = head / (config.queryHeads / config.kvHeads)
        let q = HostElements(problem.q.view), k = HostElements(problem.referenceCache.view)
        let table = HostElements(problem.blockTable.view)
        let qBase = q.offset([request, qi, head, 0])
        let query = (0..<d).map { Double(q[offset: qBase + $0]) }
        var keyBase = [Int](repeating: 0, count: visible)
        var scores = [Double](repeating: 0, count: visible)
        for token in 0..<visible {
            let id = Int(table.int32(offset: table.offset([request, token / page])))
            keyBase[token] = k.offset([id, token % page, kvHead, 0])
            var dot = 0.0
            for i in 0..<d { dot += query[i] * Double(k[offset: keyBase[token] + i]) }
            scores[token] = dot * softmaxScale
        }
        let maximum = scores.max()!
        let sum = scores.reduce(0) { $0 + Foundation.exp($1 - maximum) }
        let lse = maximum + Foundation.log(sum)
        var out = [Double](repeating: 0, count: dv)
        for token in 0..<visible {
            let weight = Foundation.exp(scores[token] - lse)
            for i in 0..<dv { out[i] += weight * Double(k[offset: keyBase[token] + i]) }
        }
        return (out, lse)
    }
}

/// Error statistics of one comparison, FlashMLA's way.
struct Agreement {
    private var dot = 0.0, squares = 0.0
    private var lseDot = 0.0, lseSquares = 0.0
    /// The largest |Δlse| over rows with a finite reference lse.
    private(set) var maxLSEDifference = 0.0
    /// Rows whose lse should be +∞ (no key seen) but was not, or the reverse.
    private(set) var infinityMismatches = 0
    /// NaN or ±∞ found in outputs.
    private(set) var nonFinite = 0

    /// 1 − 2Σxy / Σ(x² + y²) of the outputs.
    var outCosDiff: Double { squares > 0 ? 1 - 2 * dot / squares : 0 }
    /// The same for the finite lse values.
    var lseCosDiff: Double { lseSquares > 0 ? 1 - 2 * lseDot / lseSquares : 0 }

    mutating func add(out: [Float], reference: [Double], lse: Float, referenceLSE: Double) {
        for (x, y) in zip(out, reference) {
            guard x.isFinite else { nonFinite += 1; continue }
            dot += Double(x) * y
            squares += Double(x) * Double(x) + y * y
        }
        if referenceLSE.isInfinite || lse.isInfinite {
            if !(referenceLSE == .infinity && lse == .infinity) { infinityMismatches += 1 }
        } else if lse.isNaN {
            nonFinite += 1
        } else {
            lseDot += Double(lse) * referenceLSE
            lseSquares += Double(lse) * Double(lse) + referenceLSE * referenceLSE
            maxLSEDifference = max(maxLSEDifference, abs(Double(lse) - referenceLSE))
        }
    }

    /// Records a NaN or infinity found outside the sampled rows.
    mutating func flagNonFinite() { nonFinite += 1 }
    /// Records a row whose lse is +∞ where it should not be, or the reverse.
    mutating func flagInfinityMismatch() { infinityMismatches += 1 }

    /// Whether every bound of the GPU issue holds.
    var passes: Bool {
        outCosDiff < 1e-5 && lseCosDiff < 1e-5 && maxLSEDifference < 1e-3 && infinityMismatches == 0 && nonFinite == 0
    }
}
