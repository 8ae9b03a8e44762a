import Foundation
import FlashMLA

/// A naive Float64 attention over a ``RandomProblem``'s exact input values, written from
/// the contract alone: gather each visible key through the block table, softmax, sum.
enum ReferenceAttention {
    /// `out` row-major `[b, s_q, h_q, 512]` and `lse` `[b, h_q, s_q]`.
    static func compute(_ problem: RandomProblem, softmaxScale: Double) -> (out: [Double], lse: [Double]) {
        let spec = problem.spec
        let dim = RandomProblem.dim, valueDim = RandomProblem.valueDim, pageSize = RandomProblem.pageSize
        let b = spec.batchSize, sQ = spec.queryLength, hQ = spec.queryHeads, hKV = spec.kvHeads
        var out = [Double](repeating: 0, count: b * sQ * hQ * valueDim)
        var lse = [Double](repeating: .infinity, count: b * hQ * sQ)
        problem.queryValues.withUnsafeBufferPointer { queries in
            problem.cacheValues.withUnsafeBufferPointer { cache in
                for i in 0 ..< b {
                    let seqlen = spec.lengths[i]
                    for j in 0 ..< sQ {
                        let visible = CausalMask.visibleKeyCount(seqlen: seqlen, queryLength: sQ, position: j, causal: spec.causal)
                        if visible == 0 { continue }
                        for h in 0 ..< hQ {
                            let kvHead = h / (hQ / hKV)
                            let queryBase = ((i * sQ + j) * hQ + h) * dim
                            func keyBase(_ t: Int) -> Int {
                                let page = Int(problem.table[i][t / pageSize])
                                return ((page * pageSize + t % pageSize) * hKV + kvHead) * dim
                            }
                            var scores = [Double](repeating: 0, count: visible)
                            for t in 0 ..< visible {
                                let base = keyBase(t)
                                var dot = 0.0
                                for d in 0 ..< dim { dot += Double(queries[queryBase + d]) * Double(cache[base + d]) }
                                scores[t] = softmaxScale * dot
                            }
                            let largest = scores.max()!
                            let weights = scores.map { exp($0 - largest) }
                            let total = weights.reduce(0, +)
                            let outBase = ((i * sQ + j) * hQ + h) * valueDim
                            for t in 0 ..< visible {
                                let base = keyBase(t), p = weights[t] / total
                                for d in 0 ..< valueDim { out[outBase + d] += p * Double(cache[base + d]) }
                            }
                            lse[(i * hQ + h) * sQ + j] = largest + log(total)
                        }
                    }
                }
            }
        }
        return (out, lse)
    }
}
