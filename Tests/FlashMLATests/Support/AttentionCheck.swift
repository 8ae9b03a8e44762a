// AttentionCheck: the expectations of every comparison with the Float64 reference.
import Testing
import FlashMLATesting
@testable import FlashMLA

/// The expectations every comparison of a backend's results with the Float64 reference makes.
enum AttentionCheck {
    /// Expects `out`/`lse` (as a backend wrote them) to match `reference` for `problem`:
    /// no NaN left; `+∞` exactly where no key is seen, with a zero output row; every output
    /// within bf16/fp16 rounding of the reference; cos-diff against the reference rounded
    /// to the output type < 1e-6; finite log-sum-exps within 1e-3.
    static func expectMatches(
        out: [Float], lse: [Float], reference: (out: [Double], lse: [Double]),
        problem: RandomProblem, context: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let spec = problem.config, valueDim = DecodeProblem.headDimV
        let outValues = out.map(Double.init), lseValues = lse.map(Double.init)
        #expect(!outValues.contains { !$0.isFinite }, "out has NaN or ∞ — \(context)", sourceLocation: sourceLocation)
        #expect(!lseValues.contains { $0.isNaN }, "lse has NaN — \(context)", sourceLocation: sourceLocation)

        for i in 0 ..< spec.batchSize {
            for h in 0 ..< spec.queryHeads {
                for j in 0 ..< spec.queryLength {
                    let index = (i * spec.queryHeads + h) * spec.queryLength + j
                    guard reference.lse[index] == .infinity else { continue }
                    #expect(lse[index] == .infinity, "lse[\(i)][\(h)][\(j)] = \(lse[index]) for a row with no key — \(context)",
                            sourceLocation: sourceLocation)
                    let base = ((i * spec.queryLength + j) * spec.queryHeads + h) * valueDim
                    #expect(out[base ..< base + valueDim].allSatisfy { $0 == 0 },
                            "out[\(i)][\(j)][\(h)] not zero for a row with no key — \(context)",
                            sourceLocation: sourceLocation)
                }
            }
        }

        let roundedReference = reference.out.map { value in
            spec.elementType == .bfloat16 ? Double(BFloat16(Float(value)).floatValue) : Double(Float(Float16(value)))
        }
        let cos = Comparison.cosDiff(outValues, roundedReference)
        #expect(cos < 1e-6, "cos-diff \(cos) — \(context)", sourceLocation: sourceLocation)
        let outliers = Comparison.outliers(outValues, reference.out, relative: 1.0 / 128, absolute: 1e-5)
        #expect(outliers.isEmpty,
                "\(outliers.count) outputs beyond rounding, first at \(outliers.first ?? -1): \(outliers.first.map { "\(outValues[$0]) vs \(reference.out[$0])" } ?? "") — \(context)",
                sourceLocation: sourceLocation)
        let lseDiff = Comparison.maxAbsDiff(lseValues, reference.lse)
        #expect(lseDiff < 1e-3, "max |lse diff| \(lseDiff) — \(context)", sourceLocation: sourceLocation)
    }
}
