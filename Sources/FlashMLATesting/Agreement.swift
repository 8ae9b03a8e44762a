// Agreement: the error statistics of one comparison with the reference, FlashMLA's way.

/// Error statistics of one comparison, FlashMLA's way.
public struct Agreement: Sendable {
    /// No rows yet.
    public init() {}

    private var dot = 0.0, squares = 0.0
    private var lseDot = 0.0, lseSquares = 0.0
    /// The largest |Δlse| over rows with a finite reference lse.
    public private(set) var maxLSEDifference = 0.0
    /// Rows whose lse should be +∞ (no key seen) but was not, or the reverse.
    public private(set) var infinityMismatches = 0
    /// NaN or ±∞ found in outputs.
    public private(set) var nonFinite = 0

    /// 1 − 2Σxy / Σ(x² + y²) of the outputs.
    public var outCosDiff: Double { squares > 0 ? 1 - 2 * dot / squares : 0 }
    /// The same for the finite lse values.
    public var lseCosDiff: Double { lseSquares > 0 ? 1 - 2 * lseDot / lseSquares : 0 }

    /// Adds one row: its outputs against the reference's, its lse against the reference's.
    public mutating func add(out: [Float], reference: [Double], lse: Float, referenceLSE: Double) {
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
    public mutating func flagNonFinite() { nonFinite += 1 }
    /// Records a row whose lse is +∞ where it should not be, or the reverse.
    public mutating func flagInfinityMismatch() { infinityMismatches += 1 }

    /// Whether every bound of the GPU issue holds.
    public var passes: Bool {
        outCosDiff < 1e-5 && lseCosDiff < 1e-5 && maxLSEDifference < 1e-3 && infinityMismatches == 0 && nonFinite == 0
    }
}
