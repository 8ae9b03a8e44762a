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
            among them), shuffles the pages, puts NaN in every unused cache slot and poisons the outputs. \
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
    @Flag(help: "Print every case.") var verbose = false

    func run() throws {
        let backend = try parseBackend(backend)
        let engine = try MLAEngine(backend: backend)
        let seed = seed ?? UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) ^ 0x5EED
        print("check: backend \(engine.backend), \(cases) cases, seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var worst = (out: 0.0, lse: 0.0, lseDiff: 0.0)
        var failures = 0
        for index in 0..<cases {
            let config = randomConfig(&rng, index: index, budget: tokenBudget ?? (engine.backend == .cpu ? 40_000 : 1_000_000))
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
        print("\(cases - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode.failure }
    }

    private func randomConfig(_ rng: inout SplitMix64, index: Int, budget: Int) -> ProblemConfig {
        let types: [ElementType] = dtype == "bf16" ? [.bfloat16] : dtype == "fp16" ? [.float16] : [.bfloat16, .float16]
        let kvHeads = [1, 2, 8].randomElement(using: &rng)!
        let queryHeads = [1, 2, 3, 8, 16, 32, 64, 128].filter { $0 % kvHeads == 0 }.randomElement(using: &rng)!
        let batch = rng.next() % 2 == 0 ? Int.random(in: 1...16, using: &rng) : Int.random(in: 1...128, using: &rng)
        let longest = max(1, min(maxLength, budget / (batch * kvHeads)))
        let lengths = (0..<batch).map { _ -> Int32 in
            if Int.random(in: 0..<100, using: &rng) < 15 { return [0, 1, 63, 64, 65].randomElement(using: &rng)! }
            return Int32(Int.random(in: 0...longest, using: &rng))
        }
        return ProblemConfig(cacheSeqlens: lengths, queryLength: Int.random(in: 1...4, using: &rng),
                             queryHeads: queryHeads, kvHeads: kvHeads, causal: rng.next() % 4 != 0,
                             elementType: types[index % types.count])
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
