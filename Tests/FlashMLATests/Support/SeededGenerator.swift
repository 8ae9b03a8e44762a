// SeededGenerator: the tests' seeded generator (FLASHMLA_TEST_SEED replays a run).
import Foundation

/// A small, fast random generator (SplitMix64) whose seed is printed on failure, so that a
/// failing random case can be replayed by setting `FLASHMLA_TEST_SEED`.
struct SeededGenerator: RandomNumberGenerator {
    /// The seed this generator started from.
    let seed: UInt64
    private var state: UInt64

    /// A generator seeded from `FLASHMLA_TEST_SEED` when set, else freshly from the system.
    static func fresh() -> SeededGenerator {
        if let text = ProcessInfo.processInfo.environment["FLASHMLA_TEST_SEED"], let seed = UInt64(text) {
            return SeededGenerator(seed: seed)
        }
        var system = SystemRandomNumberGenerator()
        return SeededGenerator(seed: system.next())
    }

    /// A generator that starts from `seed`.
    init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
