// KVFormatChoice and PageSizeChoice: the cache layouts a random problem is drawn with.
import FlashMLA

/// How a random problem's cache stores a token (`check` and `bench`'s `--kv-format`).
public enum KVFormatChoice: String, CaseIterable, Sendable {
    /// The cache in the input type.
    case native
    /// Per-tensor FP8 (E4M3 codes and one scale).
    case fp8
    /// DeepSeek-V3.2's 656-byte FP8 tokens (h_kv = 1).
    case fp8DS = "fp8-ds"
    /// FlashMLA HEAD's MODEL1 tokens (584 bytes, page-grouped, d_qk = 512): sparse decoding only.
    case model1

    /// The library's format, with `scale` for per-tensor FP8.
    public func format(scale: Float) -> KVCacheFormat {
        switch self {
        case .native: .native
        case .fp8: .fp8PerTensor(scale: scale)
        case .fp8DS: .fp8DeepSeek
        case .model1: .fp8Model1
        }
    }
}

/// A page size, or `random` (drawn per problem from `PageSizeChoice.drawn`): `--page-size`.
public enum PageSizeChoice: Sendable, Equatable {
    /// Every problem's pages hold this many tokens (1…256).
    case fixed(Int)
    /// Each problem draws its page size from ``drawn``.
    case random

    /// The sizes `random` draws from: powers of two, FlashMLA's 64, and sizes that divide
    /// neither 64 nor a multiple of it.
    public static let drawn = [1, 2, 16, 48, 64, 100, 128, 256]

    /// `random`, or a number in 1…256; nil for anything else.
    public init?(argument: String) {
        if argument == "random" {
            self = .random
        } else if let size = Int(argument), (1...KVCacheFormat.maxPageSize).contains(size) {
            self = .fixed(size)
        } else {
            return nil
        }
    }

    /// The page size of one problem.
    public func draw(using rng: inout InputRandom) -> Int {
        switch self {
        case let .fixed(size): size
        case .random: Self.drawn.randomElement(using: &rng)!
        }
    }
}
