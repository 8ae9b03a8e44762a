// Comparison: error measures between results and a reference.
/// Error measures between a backend's results and a reference.
enum Comparison {
    /// `1 − 2Σxy / Σ(x² + y²)`: 0 for equal vectors, small for close ones.
    static func cosDiff(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        var dot = 0.0, norms = 0.0
        for index in x.indices {
            dot += x[index] * y[index]
            norms += x[index] * x[index] + y[index] * y[index]
        }
        return norms == 0 ? 0 : 1 - 2 * dot / norms
    }

    /// The largest `|x − y|` over finite pairs; `.infinity` when one is infinite and the
    /// other is not (or they differ in sign) and NaN when either is NaN.
    static func maxAbsDiff(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count)
        var worst = 0.0
        for index in x.indices {
            let a = x[index], b = y[index]
            if a.isNaN || b.isNaN { return .nan }
            if a.isInfinite || b.isInfinite {
                if a != b { return .infinity }
                continue
            }
            worst = max(worst, abs(a - b))
        }
        return worst
    }

    /// The indices where `|value − reference| > |reference|·relative + absolute` (or value is NaN).
    static func outliers(_ values: [Double], _ reference: [Double], relative: Double, absolute: Double) -> [Int] {
        values.indices.filter { index in
            let value = values[index], expected = reference[index]
            return !(abs(value - expected) <= abs(expected) * relative + absolute)
        }
    }
}
