// Tests of InputRandom, the seeded generator behind every check and benchmark input.
import FlashMLATesting
import Testing

/// The seeded generator behind every check and benchmark input.
@Suite struct InputRandomTests {
    private func stream(_ seed: UInt64, count: Int = 64) -> [UInt64] {
        var rng = InputRandom(seed: seed)
        return (0..<count).map { _ in rng.next() }
    }

    @Test func knownValuesOfXoshiro256StarStarSeededBySplitMix64() {
        // From an independent implementation of SplitMix64 seeding and xoshiro256**.
        #expect(stream(0, count: 4) == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A,
                                        0x1A5F_849D_4933_E6E0, 0x6AA5_94F1_262D_2D2C])
        #expect(stream(42, count: 4) == [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E,
                                         0xAE17_5332_39E4_99A1, 0xECB8_AD47_03B3_60A1])
    }

    @Test func sameSeedSameStream() {
        #expect(stream(0) == stream(0))
        #expect(stream(12345) == stream(12345))
        var a = InputRandom(seed: 99), b = InputRandom(seed: 99)
        for _ in 0..<1000 {
            #expect(a.normalish() == b.normalish())
            #expect(a.gaussian() == b.gaussian())
        }
    }

    @Test func differentSeedsDifferentStreams() {
        let streams = (0..<16).map { stream(UInt64($0)) } + [stream(.max), stream(1 << 63)]
        #expect(Set(streams).count == streams.count)
        // Nearby seeds share no values at all.
        let first = Set(stream(1, count: 256)), second = Set(stream(2, count: 256))
        #expect(first.isDisjoint(with: second))
        #expect(first.count == 256)
    }

    @Test func normalishHasMeanZeroAndVarianceOne() {
        var rng = InputRandom(seed: 2024)
        let count = 100_000
        var sum = 0.0, squares = 0.0, largest: Float = 0
        for _ in 0..<count {
            let x = rng.normalish()
            sum += Double(x)
            squares += Double(x) * Double(x)
            largest = max(largest, abs(x))
        }
        let mean = sum / Double(count)
        let variance = squares / Double(count) - mean * mean
        #expect(abs(mean) < 0.02, "mean \(mean)")
        #expect(abs(variance - 1) < 0.03, "variance \(variance)")
        #expect(largest <= 2 * 1.7320508 + 1e-4, "support is ±2√3, got \(largest)")
        #expect(largest > 2.5, "tails reached \(largest)")
    }

    @Test func gaussianHasMeanZeroAndVarianceOne() {
        var rng = InputRandom(seed: 7)
        let count = 50_000
        var sum = 0.0, squares = 0.0, beyondTwo = 0, nonFinite = 0, largest = 0.0
        for _ in 0..<count {
            let x = rng.gaussian()
            if !x.isFinite { nonFinite += 1 }
            sum += x
            squares += x * x
            if abs(x) > 2 { beyondTwo += 1 }
            largest = max(largest, abs(x))
        }
        #expect(nonFinite == 0)
        let mean = sum / Double(count)
        let variance = squares / Double(count) - mean * mean
        #expect(abs(mean) < 0.03, "mean \(mean)")
        #expect(abs(variance - 1) < 0.04, "variance \(variance)")
        // P(|x| > 2) ≈ 4.55% for a true normal (a sum of four uniforms gives 4.3%, too close to
        // tell apart here), and about 16 of 50,000 normal draws exceed 3.6, which a sum of four
        // uniforms, bounded by 2·√3 ≈ 3.46, never does.
        let tail = Double(beyondTwo) / Double(count)
        #expect(abs(tail - 0.0455) < 0.006, "tail \(tail)")
        #expect(largest > 3.6, "largest |x| \(largest)")
    }

    @Test func usableAsRandomNumberGenerator() {
        var a = InputRandom(seed: 5), b = InputRandom(seed: 5)
        var values = Array(0..<100), same = Array(0..<100)
        values.shuffle(using: &a)
        same.shuffle(using: &b)
        #expect(values == same)
        #expect(values != Array(0..<100))
        #expect(Int.random(in: 0..<10, using: &a) == Int.random(in: 0..<10, using: &b))
    }
}
