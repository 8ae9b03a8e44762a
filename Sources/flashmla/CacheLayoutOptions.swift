import ArgumentParser
import FlashMLA

/// The cache format `check` and `bench` run with: `--kv-format`.
enum KVFormatChoice: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// The cache in the input type.
    case native
    /// Per-tensor FP8 (E4M3 codes and one scale).
    case fp8
    /// DeepSeek-V3.2's 656-byte FP8 tokens (h_kv = 1).
    case fp8DS = "fp8-ds"

    /// The library's format, with `scale` for per-tensor FP8.
    func format(scale: Float) -> KVCacheFormat {
        switch self {
        case .native: .native
        case .fp8: .fp8PerTensor(scale: scale)
        case .fp8DS: .fp8DeepSeek
        }
    }
}

/// `--page-size`: a number in 1…256, or `random` (drawn per case from `PageSizeChoice.drawn`).
enum PageSizeChoice: ExpressibleByArgument, Sendable, Equatable {
    case fixed(Int)
    case random

    /// The sizes `random` draws from: powers of two, FlashMLA's 64, and sizes that divide
    /// neither 64 nor a multiple of it.
    static let drawn = [1, 2, 16, 48, 64, 100, 128, 256]

    init?(argument: String) {
        if argument == "random" {
            self = .random
        } else if let size = Int(argument), (1...KVCacheFormat.maxPageSize).contains(size) {
            self = .fixed(size)
        } else {
            return nil
        }
    }

    /// The page size of one case.
    func draw(using rng: inout InputRandom) -> Int {
        switch self {
        case let .fixed(size): size
        case .random: Self.drawn.randomElement(using: &rng)!
        }
    }
}
