// BenchMath and the CUDA-event and wall-clock timers of `flashmla bench`.
import CUDADriver
import FlashMLA

/// FlashMLA's benchmark formulas and the statistics the bench reports.
enum BenchMath {
    /// The median of `values` (the mean of the middle two for an even count); `nil` when empty.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Floating-point operations of one decode call: `2 · s_q · Σseqlens · h_q · (d + dv)`.
    static func flops(sQ: Int, totalSeqlens: Int, hQ: Int, d: Int, dv: Int) -> Double {
        2 * Double(sQ) * Double(totalSeqlens) * Double(hQ) * Double(d + dv)
    }

    /// Bytes one decode call moves:
    /// `elementBytes · (Σseqlens · h_kv · d + b · s_q · h_q · (d + dv))`.
    static func bytes(b: Int, sQ: Int, totalSeqlens: Int, hQ: Int, hKV: Int, d: Int, dv: Int,
                      elementBytes: Int = 2) -> Double {
        Double(elementBytes) * (Double(totalSeqlens) * Double(hKV) * Double(d) + Double(b * sQ * hQ) * Double(d + dv))
    }

    /// Floating-point operations of one sparse decode call (FlashMLA's
    /// `count_flop_and_mem_vol_for_decode`): `2 · h_q · N · (d + dv)`, `N = s_q · Σ counted entries`.
    static func sparseFlops(attendedEntries: Int, hQ: Int, d: Int, dv: Int) -> Double {
        2 * Double(hQ) * Double(attendedEntries) * Double(d + dv)
    }

    /// Bytes one sparse decode call moves (FlashMLA's formula, with the distinct cache tokens its
    /// counted entries reach): `uniqueTokens · tokenBytes + elementBytes · b · s_q · h_q · (d + dv)`
    /// (`q` and `out`; the index lists and `lse` are not counted, as FlashMLA counts them).
    static func sparseBytes(uniqueTokens: Int, tokenBytes: Int, b: Int, sQ: Int, hQ: Int, d: Int, dv: Int,
                            elementBytes: Int = 2) -> Double {
        Double(uniqueTokens) * Double(tokenBytes) + Double(elementBytes) * Double(b * sQ * hQ) * Double(d + dv)
    }

    /// TFLOP/s for `flops` done in `milliseconds`.
    static func teraflops(_ flops: Double, milliseconds: Double) -> Double {
        flops / (milliseconds * 1e-3) / 1e12
    }

    /// GB/s (10⁹ bytes) for `bytes` moved in `milliseconds`.
    static func gigabytesPerSecond(_ bytes: Double, milliseconds: Double) -> Double {
        bytes / (milliseconds * 1e-3) / 1e9
    }
}

/// GPU timing as triton's `do_bench` does it: one untimed call, an estimate over five
/// calls, a warm-up of about `warmup` milliseconds, then `iterations` calls, each preceded by
/// a 256 MiB memset that evicts the L2 cache and bracketed by its own pair of events; the
/// times are read after one synchronization at the end.
struct CUDABenchTimer {
    /// Bytes written before each timed call to flush the L2 cache.
    static let flushBytes = 256 << 20

    /// The backend whose default stream the calls are queued on.
    let backend: CUDABackend
    private let flush: DeviceAllocation

    /// Allocates the flush buffer on `backend`'s device.
    init(backend: CUDABackend) throws {
        self.backend = backend
        flush = try DeviceAllocation(device: backend.device, byteCount: Self.flushBytes)
    }

    /// Milliseconds of each of `iterations` timed runs of `body` (which must queue its work on
    /// the backend's default stream).
    func measure(warmupMilliseconds: Double, iterations: Int, _ body: () throws -> Void) throws -> [Double] {
        let stream = backend.stream, device = backend.device
        try body()
        try backend.synchronize()

        // Estimate one call (with its flush), to size the warm-up.
        let first = try Event(device: device), last = try Event(device: device)
        try first.record(on: stream)
        for _ in 0..<5 {
            try flushL2(stream)
            try body()
        }
        try last.record(on: stream)
        try last.synchronize()
        let estimate = max(Double(try Event.elapsedMilliseconds(from: first, to: last)) / 5, 1e-3)
        let warmups = min(max(1, Int(warmupMilliseconds / estimate)), 100_000)
        for _ in 0..<warmups { try body() }

        let starts = try (0..<iterations).map { _ in try Event(device: device) }
        let ends = try (0..<iterations).map { _ in try Event(device: device) }
        for index in 0..<iterations {
            try flushL2(stream)
            try starts[index].record(on: stream)
            try body()
            try ends[index].record(on: stream)
        }
        try backend.synchronize()
        return try (0..<iterations).map { index in
            Double(try Event.elapsedMilliseconds(from: starts[index], to: ends[index]))
        }
    }

    private func flushL2(_ stream: Stream) throws {
        try DeviceMemory.fillAsync(address: flush.address, byteCount: Self.flushBytes, byte: 0, stream: stream)
    }
}

/// Host timing: wall-clock milliseconds of each of `iterations` runs of `body`.
enum WallClockTimer {
    /// Runs `body` `iterations` times and returns each run's milliseconds.
    static func measure(iterations: Int, _ body: () throws -> Void) throws -> [Double] {
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<iterations {
            var failure: (any Error)?
            let elapsed = clock.measure {
                do { try body() } catch { failure = error }
            }
            if let failure { throw failure }
            times.append(milliseconds(elapsed))
        }
        return times
    }

    /// A duration in milliseconds.
    static func milliseconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) * 1e3 + Double(parts.attoseconds) * 1e-15
    }
}
