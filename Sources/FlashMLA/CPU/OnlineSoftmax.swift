// OnlineSoftmax: a softmax-weighted sum of scores that arrive a batch at a time.
#if canImport(Glibc)
import Glibc
#endif

/// A softmax-weighted sum built from scores that arrive a batch at a time.
///
/// Per row it keeps the largest score `m` seen so far, `l = Σ exp(s − m)` and
/// `acc = Σ exp(s − m) · v`; when a batch raises `m`, `l` and `acc` are rescaled by
/// `exp(m_old − m_new)`. A row that never receives a score keeps `l = 0` and `acc = 0`.
final class OnlineSoftmax {
    private let rows: Int
    private let width: Int
    private let maximum: UnsafeMutableBufferPointer<Float>
    private let sum: UnsafeMutableBufferPointer<Float>
    private let accumulator: UnsafeMutableBufferPointer<Float>

    /// Starts `rows` empty rows of `width` output values.
    init(rows: Int, width: Int) {
        self.rows = rows
        self.width = width
        maximum = .allocate(capacity: rows)
        maximum.initialize(repeating: -.infinity)
        sum = .allocate(capacity: rows)
        sum.initialize(repeating: 0)
        accumulator = .allocate(capacity: rows * width)
        accumulator.initialize(repeating: 0)
    }

    deinit {
        maximum.deallocate()
        sum.deallocate()
        accumulator.deallocate()
    }

    /// Adds `count` scores of `row`, the value vector of score `i` being the first `width`
    /// floats at `values + i · valueStride`.
    func add(row: Int, scores: UnsafePointer<Float>, values: UnsafePointer<Float>, valueStride: Int, count: Int) {
        var batchMaximum = -Float.infinity
        for index in 0 ..< count { batchMaximum = max(batchMaximum, scores[index]) }
        let newMaximum = max(maximum[row], batchMaximum)
        let acc = accumulator.baseAddress! + row * width
        if maximum[row] != newMaximum {
            // exp(−∞) = 0 on a row's first batch, whose sum and accumulator are still zero.
            let rescale = exp(maximum[row] - newMaximum)
            sum[row] *= rescale
            VectorMath.scale(acc, by: rescale, count: width)
            maximum[row] = newMaximum
        }
        for index in 0 ..< count {
            let weight = exp(scores[index] - newMaximum)
            sum[row] += weight
            VectorMath.addScaled(values + index * valueStride, weight, to: acc, count: width)
        }
    }

    /// The normalized outputs (`acc / l`, zero for an empty row) and the log-sum-exps
    /// (`m + log l`, `−∞` for an empty row).
    func finish() -> (out: [Float], lse: [Float]) {
        var lse = [Float](repeating: -.infinity, count: rows)
        for row in 0 ..< rows where sum[row] > 0 {
            lse[row] = maximum[row] + log(sum[row])
            VectorMath.scale(accumulator.baseAddress! + row * width, by: 1 / sum[row], count: width)
        }
        return (Array(accumulator), lse)
    }
}
