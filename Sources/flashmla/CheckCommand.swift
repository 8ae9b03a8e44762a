import ArgumentParser
import CUDADriver
import Dispatch
import FlashMLA

/// `flashmla check`: random decode problems against the Float64 reference.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run random decode problems on a backend and compare with a Float64 reference.",
        discussion: """
            Each case draws b, s_q, h_q, h_kv, causal, the element type and the lengths (0, 1, 63, 64, 65 \
            among them), shuffles the pages (of --page-size tokens; FP8 caches with --kv-format are the \
            quantized random cache, compared with the reference on their dequantized values), puts NaN in every unused cache slot and poisons the outputs. \
            Large cases are compared on a sample of query rows; every output is checked for NaN. On CUDA \
            each case also checks the device schedule against the host's and that a second run is \
            bit-identical. Exits non-zero on any mismatch.
            """
    )

    @Option(help: "cpu, cuda or auto.") var backend: String = "auto"
    @Option(help: "Number of random cases.") var cases: Int = 100
    @Option(help: "Seed (default: from the clock; printed).") var seed: UInt64?
    @Option(help: "Element types: bf16, fp16 or both.") var dtype: String = "both"
    @Option(help: "Most query rows compared with the reference per case.") var sampleRows: Int = 48
    @Option(help: "Most cached tokens × KV heads per case (default: 1,000,000 on CUDA, 40,000 on the CPU).") var tokenBudget: Int?
    @Option(help: "Largest sequence length drawn.") var maxLength: Int = 32768
    @Option(help: "A grid file: check each of its configurations (in each --dtype) instead of random ones.")
    var grid: String?
    @Option(name: .customLong("kv-format"), help: "The cache format: native, fp8 (per-tensor E4M3) or fp8-ds (DeepSeek-V3.2, h_kv forced to 1).")
    var kvFormat: KVFormatChoice = .native
    @Option(name: .customLong("page-size"), help: "Tokens a cache page, 1…256, or random (one of \(PageSizeChoice.drawn) per case).")
    var pageSize: PageSizeChoice = .fixed(TileSchedule.blockSize)
    @Flag(help: "Print every case.") var verbose = false

    func run() throws {
        let backend = try parseBackend(backend)
        let engine = try MLAEngine(backend: backend)
        let seed = seed ?? UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) ^ 0x5EED
        print("check: backend \(engine.backend), \(cases) cases, seed \(seed)")
        var rng = InputRandom(seed: seed)
        var worst = (out: 0.0, lse: 0.0, lseDiff: 0.0)
        var failures = 0
        let configs: [ProblemConfig]
        if let grid {
            configs = try gridConfigs(BenchGrid.load(path: grid))
        } else {
            let budget = tokenBudget ?? (engine.backend == .cpu ? 40_000 : 1_000_000)
            configs = (0..<cases).map { randomConfig(&rng, index: $0, budget: budget) }
        }
        for (index, config) in configs.enumerated() {
            let outcome = try CaseRunner(engine: engine, sampleRows: sampleRows).run(config, seed: rng.next())
            worst.out = max(worst.out, outcome.agreement.outCosDiff)
            worst.lse = max(worst.lse, outcome.agreement.lseCosDiff)
            worst.lseDiff = max(worst.lseDiff, outcome.agreement.maxLSEDifference)
            if !outcome.passed { failures += 1 }
            if verbose || !outcome.passed {
                print("\(outcome.passed ? "ok  " : "FAIL") case \(index): \(config) — \(outcome.summary)")
            }
        }
        print("worst: out cos-diff \(worst.out), lse cos-diff \(worst.lse), max |Δlse| \(worst.lseDiff)")
        print("\(configs.count - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode.failure }
    }

    private var elementTypes: [ElementType] {
        dtype == "bf16" ? [.bfloat16] : dtype == "fp16" ? [.float16] : [.bfloat16, .float16]
    }

    /// Every configuration of `grid` in every requested element type.
    private func gridConfigs(_ grid: BenchGrid) -> [ProblemConfig] {
        var rng = InputRandom(seed: 0x9A6E)
        return elementTypes.flatMap { type in
            grid.configs.map { config in
                ProblemConfig(cacheSeqlens: config.resolvedCacheSeqlens(seed: 0), queryLength: config.sQ,
                              queryHeads: config.hQ, kvHeads: kvFormat == .fp8DS ? 1 : config.hKV, causal: config.causal,
                              elementType: type, pageSize: pageSize.draw(using: &rng), kvFormat: kvFormat)
            }
        }
    }

    private func randomConfig(_ rng: inout InputRandom, index: Int, budget: Int) -> ProblemConfig {
        let types = elementTypes
        return ProblemConfig.random(using: &rng, tokenBudget: budget, maxLength: maxLength,
                                    elementType: types[index % types.count], pageSize: pageSize, kvFormat: kvFormat)
    }
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
func parseBackend(_ text: String) throws -> Backend {
    switch text {
    case "cpu": return .cpu
    case "auto": return .automatic()
    case "cuda": return .cuda(device: 0)
    default:
        if text.hasPrefix("cuda:"), let ordinal = Int(text.dropFirst(5)) { return .cuda(device: ordinal) }
        throw ValidationError("--backend must be cpu, cuda, cuda:N or auto, not \(text)")
    }
}
