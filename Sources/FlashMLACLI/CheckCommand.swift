// CheckCommand: `flashmla check`.
import ArgumentParser
import CUDADriver
import Dispatch
import FlashMLA
import FlashMLATesting
import Foundation

/// `flashmla check`: random decode problems against the Float64 reference.
struct CheckCommand: InputCheckedCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run random decode problems on a backend and compare with a Float64 reference.",
        discussion: """
            Each case draws b, s_q, h_q, h_kv, causal, the element type and the lengths (0, 1, 63, 64, 65 \
            among them), shuffles the pages (of --page-size tokens; FP8 caches with --kv-format are the \
            quantized random cache, compared with the reference on their dequantized values), puts NaN in every unused cache slot and poisons the outputs. \
            Large cases are compared on a sample of query rows; every output is checked for NaN. On CUDA \
            each case also checks the device schedule against the host's and that a second run is \
            bit-identical. A grid configuration with topk is a DeepSeek-V3.2 sparse decode: each query \
            token attends to topk distinct random tokens of its request (NaN in every cache slot no \
            counted index reaches), compared with the same Float64 reference over those tokens. \
            Exits non-zero on any mismatch.
            """
    )

    @Option(help: "cpu, cuda, cuda:N or auto.") var backend: String = "auto"
    @Option(help: "Number of random cases (without --grid).") var cases: Int = 100
    @Option(help: "Seed (default: from the clock; printed).") var seed: UInt64?
    @Option(help: "Element types: bf16, fp16 or both.") var dtype: CheckDTypes = .both
    @Option(help: "Most query rows compared with the reference per case.") var sampleRows: Int = 48
    @Option(help: "Most cached tokens × KV heads per case (default: 1,000,000 on CUDA, 40,000 on the CPU).") var tokenBudget: Int?
    @Option(help: "Largest sequence length drawn.") var maxLength: Int = 32768
    @Option(help: "A grid file or a built-in grid's name (\(BenchGrid.presets.map(\.name).joined(separator: ", "))): check each of its configurations (in each --dtype) instead of random ones; those with topk as sparse decodes.")
    var grid: String?
    @Option(name: .customLong("kv-format"), help: "The cache format (of grid configurations without kv_format): native, fp8 (per-tensor E4M3) or fp8-ds (DeepSeek-V3.2, h_kv forced to 1).")
    var kvFormat: KVFormatChoice = .native
    @Option(name: .customLong("page-size"), help: "Tokens a cache page, 1…256, or random (one of \(PageSizeChoice.drawn) per case).")
    var pageSize: PageSizeChoice = .fixed(TileSchedule.blockSize)
    @Option(help: "With --grid: check only configurations matching key=value,… (as bench's --only, repeatable).")
    var only: [String] = []
    @Option(name: .customLong("memory-limit-gib"), help: "Most GiB of tensors one case may need.")
    var memoryLimitGiB: Int = MemoryEstimate.defaultLimitGiB
    @Flag(help: "Print every case.") var verbose = false

    /// The most random cases.
    static let maxCases = 1_000_000

    /// Every flag's value checked.
    /// - Throws: ``UsageError`` naming the first bad flag, what it must be and what it is.
    func checkInputs() throws(UsageError) {
        if backend != "auto" { _ = try parseBackend(backend) }  // "auto" is valid; resolving it probes the driver
        try MemoryLimit.validate(memoryLimitGiB)
        guard (1...Self.maxCases).contains(cases) else {
            throw UsageError("--cases", expected: "1…\(Self.maxCases)", given: "\(cases)")
        }
        guard sampleRows >= 1 else { throw UsageError("--sample-rows", expected: "1 or more", given: "\(sampleRows)") }
        if kvFormat == .model1 && grid == nil {
            throw UsageError("--kv-format", expected: "native, fp8 or fp8-ds for random (dense) cases; model1 is sparse only "
                             + "(a --grid of topk configurations, or flashmla check-sparse --format model1)", given: "model1")
        }
        guard (1...BenchConfig.maxValue).contains(maxLength) else {
            throw UsageError("--max-length", expected: "1…\(BenchConfig.maxValue)", given: "\(maxLength)")
        }
        if let tokenBudget {
            // A case's cache holds about tokenBudget × 576 two-byte values.
            let most = MemoryEstimate.bytes(gib: memoryLimitGiB)! / (DecodeProblem.headDim * 2)
            guard (1...most).contains(tokenBudget) else {
                throw UsageError("--token-budget",
                                 expected: "1…\(most) (× 576 × 2 bytes within --memory-limit-gib \(memoryLimitGiB))",
                                 given: "\(tokenBudget)")
            }
        }
        if !only.isEmpty, grid == nil {
            throw UsageError("--only", expected: "--grid FILE beside it (it selects the grid's configurations)", given: "no --grid")
        }
    }

    /// The grid's configurations in each requested element type, every field and size checked;
    /// nil without `--grid`. A sparse configuration (`topk`) is a ``CheckCase/sparse(_:)`` case.
    /// - Throws: ``UsageError`` (or `ValidationError` for a malformed `--only`).
    func gridPlan() throws -> [CheckCase]? {
        guard let grid else { return nil }
        let largestPage: Int
        switch pageSize {
        case let .fixed(size): largestPage = size
        case .random: largestPage = PageSizeChoice.drawn.max()!
        }
        let plan = try GridPlan(grid: BenchGrid.named(grid), source: grid, only: only, layout: .check,
                                elementBytes: 2, memoryLimitBytes: MemoryEstimate.bytes(gib: memoryLimitGiB)!,
                                kvFormat: kvFormat, pageSize: largestPage, lengthSeed: { _ in 0 })
        var rng = InputRandom(seed: 0x9A6E)
        return dtype.elementTypes.flatMap { type in
            plan.entries.map { entry -> CheckCase in
                let config = entry.config, format = config.kvFormat ?? kvFormat
                if let topk = config.topk {
                    return .sparse(SparseProblemConfig(
                        cacheSeqlens: entry.lengths, queryLength: config.sQ, queryHeads: config.hQ, topk: topk,
                        topkLength: config.topkLength?.counts(batchSize: config.b), invalidFraction: config.invalidIndices ?? 0,
                        elementType: type, pageSize: pageSize.draw(using: &rng), kvFormat: format,
                        extraTopk: config.extraTopk ?? 0, extraTopkLength: config.extraTopkLength?.counts(batchSize: config.b),
                        extraPageSize: config.extraPageBlockSize ?? TileSchedule.blockSize))
                }
                return .dense(ProblemConfig(cacheSeqlens: entry.lengths, queryLength: config.sQ, queryHeads: config.hQ,
                                            kvHeads: format == .fp8DS ? 1 : config.hKV, causal: config.causal,
                                            elementType: type, pageSize: pageSize.draw(using: &rng), kvFormat: format))
            }
        }
    }

    func run() throws {
        let planned = try gridPlan()
        let backend = try parseBackend(backend)
        let engine = try MLAEngine(backend: backend)
        let seed = seed ?? UInt64(truncatingIfNeeded: ContinuousClock.now.hashValue) ^ 0x5EED
        var rng = InputRandom(seed: seed)
        var worst = (out: 0.0, lse: 0.0, lseDiff: 0.0)
        var failures = 0
        let configs: [CheckCase]
        if let planned {
            configs = planned
        } else {
            let budget = tokenBudget ?? (engine.backend == .cpu ? 40_000 : 1_000_000)
            configs = (0..<cases).map { .dense(randomConfig(&rng, index: $0, budget: budget)) }
        }
        print("check: backend \(engine.backend), \(configs.count) cases, seed \(seed)")
        let progress = ProgressLine()
        let runner = CaseRunner(engine: engine, sampleRows: sampleRows)
        for (index, config) in configs.enumerated() {
            progress.start("case \(index + 1)/\(configs.count): \(config.summary)")
            let outcome: CaseRunner.Outcome
            switch config {
            case let .dense(shape): outcome = try runner.run(shape, seed: rng.next())
            case let .sparse(shape): outcome = try runner.run(shape, seed: rng.next())
            }
            progress.finish()
            worst.out = max(worst.out, outcome.agreement.outCosDiff)
            worst.lse = max(worst.lse, outcome.agreement.lseCosDiff)
            worst.lseDiff = max(worst.lseDiff, outcome.agreement.maxLSEDifference)
            if !outcome.passed { failures += 1 }
            if verbose || !outcome.passed {
                print("\(outcome.passed ? "ok  " : "FAIL") case \(index): \(config) — \(outcome.summary)")
                fflush(nil)
            }
        }
        print("worst: out cos-diff \(worst.out), lse cos-diff \(worst.lse), max |Δlse| \(worst.lseDiff)")
        print("\(configs.count - failures) passed, \(failures) failed")
        if failures > 0 { throw ExitCode.failure }
    }

    private func randomConfig(_ rng: inout InputRandom, index: Int, budget: Int) -> ProblemConfig {
        let types = dtype.elementTypes
        return ProblemConfig.random(using: &rng, tokenBudget: budget, maxLength: maxLength,
                                    elementType: types[index % types.count], pageSize: pageSize, kvFormat: kvFormat)
    }
}

/// One case `check` runs: a dense random problem, or a sparse one (a grid configuration with `topk`).
enum CheckCase: CustomStringConvertible {
    /// A dense decode (``RandomProblem``).
    case dense(ProblemConfig)
    /// A sparse decode (``SparseProblem``).
    case sparse(SparseProblemConfig)

    /// Each request's cached length.
    var cacheSeqlens: [Int32] {
        switch self {
        case let .dense(config): config.cacheSeqlens
        case let .sparse(config): config.cacheSeqlens
        }
    }

    /// The shape in a few words, for the progress line.
    var summary: String {
        switch self {
        case let .dense(c): "b=\(c.batchSize) s_q=\(c.queryLength) h_q=\(c.queryHeads) h_kv=\(c.kvHeads) \(c.elementType)"
        case let .sparse(c): "sparse b=\(c.batchSize) s_q=\(c.queryLength) h_q=\(c.queryHeads) topk=\(c.topk) \(c.elementType)"
        }
    }

    var description: String {
        switch self {
        case let .dense(config): config.description
        case let .sparse(config): config.description
        }
    }
}

/// The element types `check --dtype` accepts: `bf16`, `fp16` (each in ``BenchDType``'s
/// spellings) or `both`.
enum CheckDTypes: Equatable, ExpressibleByArgument, CaseIterable {
    /// One type.
    case one(BenchDType)
    /// bf16, then fp16.
    case both

    static var allCases: [CheckDTypes] { [.one(.bf16), .one(.fp16), .both] }

    /// `both`, or a spelling of ``BenchDType``.
    init?(argument: String) {
        if argument.lowercased() == "both" {
            self = .both
        } else if let type = BenchDType(argument: argument) {
            self = .one(type)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch self {
        case let .one(type): type.rawValue
        case .both: "both"
        }
    }

    static var allValueStrings: [String] { ["bf16", "fp16", "both"] }

    /// The library's element types, in order.
    var elementTypes: [ElementType] {
        switch self {
        case let .one(type): [type.elementType]
        case .both: [.bfloat16, .float16]
        }
    }
}

/// Parses `cpu`, `cuda`, `cuda:N` (N ≥ 0) or `auto`.
/// - Throws: ``UsageError`` naming `--backend` for anything else.
func parseBackend(_ text: String) throws(UsageError) -> Backend {
    switch text {
    case "cpu": return .cpu
    case "auto": return .automatic()
    case "cuda": return .cuda(device: 0)
    default:
        if text.hasPrefix("cuda:"), let ordinal = Int(text.dropFirst(5)), (0...Int(Int32.max)).contains(ordinal) {
            return .cuda(device: ordinal)
        }
        throw UsageError("--backend", expected: "cpu, cuda, cuda:N (N ≥ 0) or auto", given: text)
    }
}
