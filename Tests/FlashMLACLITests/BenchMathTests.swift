// Tests of BenchMath.
import Testing
@testable import FlashMLACLI

/// FlashMLA's benchmark formulas and the median the bench reports.
@Suite struct BenchMathTests {
    @Test func medianOfOddCount() {
        #expect(BenchMath.median([5]) == 5)
        #expect(BenchMath.median([1, 2, 3]) == 2)
        #expect(BenchMath.median([9, 1, 7, 3, 5]) == 5)
    }

    @Test func medianOfEvenCountIsMeanOfMiddleTwo() {
        #expect(BenchMath.median([1, 2]) == 1.5)
        #expect(BenchMath.median([4, 1, 3, 2]) == 2.5)
        #expect(BenchMath.median([10, 0.5, 0.25, 100, 7, 3]) == 5)
    }

    @Test func medianSortsItsInput() {
        #expect(BenchMath.median([3, 100, -1, 2, 0.5]) == 2)
        #expect(BenchMath.median([100, -1, 3]) == 3)
        #expect(BenchMath.median([2.5, 2.5, 1, 9]) == 2.5)
        #expect(BenchMath.median([0.3, 0.1, 0.2]) == 0.2)
    }

    @Test func medianOfNothingIsNil() {
        #expect(BenchMath.median([]) == nil)
    }

    @Test func flopsFormula() {
        // 2 · s_q · Σseqlens · h_q · (d + dv) = 2 · 2 · 1000 · 16 · 1088
        #expect(BenchMath.flops(sQ: 2, totalSeqlens: 1000, hQ: 16, d: 576, dv: 512) == 69_632_000)
        // 2 · 1 · 524288 · 128 · 1088 (b 128 × 4096 tokens, h_q 128)
        #expect(BenchMath.flops(sQ: 1, totalSeqlens: 524_288, hQ: 128, d: 576, dv: 512) == 146_028_888_064)
        #expect(BenchMath.flops(sQ: 3, totalSeqlens: 0, hQ: 16, d: 576, dv: 512) == 0)
    }

    @Test func bytesFormula() {
        // 2 · (Σseqlens · h_kv · d + b · s_q · h_q · (d + dv)) = 2 · (1000 · 576 + 4 · 2 · 16 · 1088)
        //   = 2 · (576000 + 139264) = 1430528
        #expect(BenchMath.bytes(b: 4, sQ: 2, totalSeqlens: 1000, hQ: 16, hKV: 1, d: 576, dv: 512) == 1_430_528)
        // h_kv multiplies only the cache term: 2 · (1000 · 2 · 576 + 139264) = 2582528
        #expect(BenchMath.bytes(b: 4, sQ: 2, totalSeqlens: 1000, hQ: 16, hKV: 2, d: 576, dv: 512) == 2_582_528)
        // Four-byte elements double it.
        #expect(BenchMath.bytes(b: 4, sQ: 2, totalSeqlens: 1000, hQ: 16, hKV: 1, d: 576, dv: 512,
                                elementBytes: 4) == 2_861_056)
        // Nothing cached: only queries and outputs, 2 · 1 · 1 · 16 · 1088.
        #expect(BenchMath.bytes(b: 1, sQ: 1, totalSeqlens: 0, hQ: 16, hKV: 1, d: 576, dv: 512) == 34_816)
    }

    @Test func rateConversions() {
        #expect(BenchMath.teraflops(1e12, milliseconds: 1000) == 1)
        #expect(BenchMath.teraflops(2e12, milliseconds: 1) == 2000)
        #expect(abs(BenchMath.teraflops(69_632_000, milliseconds: 0.5) - 0.139264) < 1e-12)
        #expect(BenchMath.gigabytesPerSecond(1e9, milliseconds: 1000) == 1)
        #expect(abs(BenchMath.gigabytesPerSecond(1_430_528, milliseconds: 0.5) - 2.861056) < 1e-12)
        #expect(abs(BenchMath.gigabytesPerSecond(3.35e9, milliseconds: 1) - 3350) < 1e-9)
    }

    @Test func wallClockMilliseconds() {
        #expect(WallClockTimer.milliseconds(.seconds(2)) == 2000)
        #expect(abs(WallClockTimer.milliseconds(.microseconds(1500)) - 1.5) < 1e-12)
    }

    @Test func wallClockTimerRunsEachIteration() throws {
        var calls = 0
        let times = try WallClockTimer.measure(iterations: 3) { calls += 1 }
        #expect(calls == 3)
        #expect(times.count == 3)
        #expect(times.allSatisfy { $0 >= 0 })
    }
}
