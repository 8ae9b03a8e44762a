// ReferenceAttention: Float64 attention, written plainly, that every backend is held to.
import Dispatch
import Foundation
import FlashMLA

/// Float64 attention for single query rows, written plainly: the oracle `check` holds
/// every backend to. It reads the same rounded inputs the backend read (for an FP8 cache, the
/// values its codes stand for), token t of a request in slot t % P of page blockTable[t / P].
public struct ReferenceAttention: Sendable {
    /// The problem whose inputs are read.
    public let problem: RandomProblem
    /// The factor applied to `q·k` before the softmax.
    public let softmaxScale: Double

    /// The reference for `problem` with `softmaxScale`.
    public init(problem: RandomProblem, softmaxScale: Double) {
        self.problem = problem
        self.softmaxScale = softmaxScale
    }

    /// The output (512 values) and natural-log lse of query token `qi`, head `head` of `request`.
    public func row(request: Int, qi: Int, head: Int) -> (out: [Double], lse: Double) {
        let config = problem.config
        let d = DecodeProblem.headDim, page = config.pageSize
        let seqlen = Int(config.cacheSeqlens[request])
        let visible = CausalMask.visibleKeyCount(seqlen: seqlen, queryLength: config.queryLength, position: qi, causal: config.causal)
        let kvHead = head / (config.queryHeads / config.kvHeads)
        let q = HostElements(problem.q), k = HostElements(problem.referenceCache)
        let table = HostElements(problem.blockTable)
        let qBase = q.offset([request, qi, head, 0])
        let query = (0..<d).map { Double(q[offset: qBase + $0]) }
        return Self.attention(query: query, keyCount: visible, softmaxScale: softmaxScale) { token, key in
            let id = Int(table.int32(offset: table.offset([request, token / page])))
            let base = k.offset([id, token % page, kvHead, 0])
            for i in 0..<d { key[i] = Double(k[offset: base + i]) }
        }
    }

    /// Float64 attention of one query row over `keyCount` keys, the oracle's arithmetic for dense
    /// and sparse rows alike: scores `softmaxScale · q·k` over the 576 values, a softmax, and the
    /// output `Σ p·v` over the first 512. `loadKey(n, &key)` writes key `n`'s 576 values into
    /// `key` (called twice per key: once for the scores, once for the output). No keys: a zero
    /// output and lse `+∞`.
    public static func attention(query: [Double], keyCount: Int, softmaxScale: Double,
                                 loadKey: (Int, inout [Double]) -> Void) -> (out: [Double], lse: Double) {
        let d = DecodeProblem.headDim, dv = DecodeProblem.headDimV
        guard keyCount > 0 else { return ([Double](repeating: 0, count: dv), .infinity) }
        var key = [Double](repeating: 0, count: d)
        var scores = [Double](repeating: 0, count: keyCount)
        for n in 0..<keyCount {
            loadKey(n, &key)
            var dot = 0.0
            for i in 0..<d { dot += query[i] * key[i] }
            scores[n] = dot * softmaxScale
        }
        let maximum = scores.max()!
        let sum = scores.reduce(0) { $0 + Foundation.exp($1 - maximum) }
        let lse = maximum + Foundation.log(sum)
        var out = [Double](repeating: 0, count: dv)
        for n in 0..<keyCount {
            loadKey(n, &key)
            let weight = Foundation.exp(scores[n] - lse)
            for i in 0..<dv { out[i] += weight * key[i] }
        }
        return (out, lse)
    }

    /// Every row, computed in parallel: `out` row-major `[b, s_q, h_q, 512]` and `lse` `[b, h_q, s_q]`
    /// (`+∞` and a zero output for rows that see no key).
    public func allRows() -> (out: [Double], lse: [Double]) {
        let config = problem.config, dv = DecodeProblem.headDimV
        let (b, sQ, hQ) = (config.batchSize, config.queryLength, config.queryHeads)
        let rows = ResultSlots<(out: [Double], lse: Double)>(count: b * sQ * hQ)
        DispatchQueue.concurrentPerform(iterations: b * sQ * hQ) { index in
            rows[index] = row(request: index / (sQ * hQ), qi: index / hQ % sQ, head: index % hQ)
        }
        var out = [Double](), lse = [Double](repeating: .infinity, count: b * hQ * sQ)
        out.reserveCapacity(b * sQ * hQ * dv)
        for index in 0 ..< b * sQ * hQ {
            let (request, qi, head) = (index / (sQ * hQ), index / hQ % sQ, index % hQ)
            out += rows[index].out
            lse[(request * hQ + head) * sQ + qi] = rows[index].lse
        }
        return (out, lse)
    }
}
