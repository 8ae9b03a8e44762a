// VectorMath: the CPU backend's Float32 vector loops.
/// The CPU backend's vector loops, in Float32.
///
/// Lengths that are multiples of 16 (576 and 512 are) run 16 lanes at a time; any rest runs
/// one element at a time.
enum VectorMath {
    private typealias Lanes = SIMD16<Float>

    /// `Σ a[i]·b[i]` for `i < count`: 16 partial sums, then their total.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = Lanes()
        var index = 0
        let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
        while index + Lanes.scalarCount <= count {
            let x = rawA.loadUnaligned(fromByteOffset: index * 4, as: Lanes.self)
            let y = rawB.loadUnaligned(fromByteOffset: index * 4, as: Lanes.self)
            lanes += x * y
            index += Lanes.scalarCount
        }
        var sum = lanes.sum()
        while index < count {
            sum += a[index] * b[index]
            index += 1
        }
        return sum
    }

    /// `y[i] += alpha·x[i]` for `i < count`.
    static func addScaled(_ x: UnsafePointer<Float>, _ alpha: Float, to y: UnsafeMutablePointer<Float>, count: Int) {
        var index = 0
        let rawX = UnsafeRawPointer(x), rawY = UnsafeMutableRawPointer(y)
        while index + Lanes.scalarCount <= count {
            var lanes = rawY.loadUnaligned(fromByteOffset: index * 4, as: Lanes.self)
            lanes += alpha * rawX.loadUnaligned(fromByteOffset: index * 4, as: Lanes.self)
            rawY.storeBytes(of: lanes, toByteOffset: index * 4, as: Lanes.self)
            index += Lanes.scalarCount
        }
        while index < count {
            y[index] += alpha * x[index]
            index += 1
        }
    }

    /// `x[i] *= factor` for `i < count`.
    static func scale(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
        var index = 0
        while index < count {
            x[index] *= factor
            index += 1
        }
    }
}
