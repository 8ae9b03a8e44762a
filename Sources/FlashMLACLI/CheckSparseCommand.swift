// `flashmla check-sparse`: random sparse and sink cases on a backend against the CPU backend.
import Foundation
import ArgumentParser
import FlashMLA

/// `flashmla check-sparse`: random sparse decodes (DeepSeek-V3.2 index lists, optional
/// `topkLength`, −1 holes, all-invalid rows, zero lengths), from a bf16/fp16 cache or the 656-byte
/// FP8 cache, with and without an attention sink, and dense decodes with a sink, on the chosen
/// backend against the CPU backend (which the test suite checks against a Float64 reference).
///
/// Each case: outputs poisoned with NaN first; no NaN left; rows without a key exactly 0 with
/// lse +∞; out's cos-diff (FlashMLA's measure) below 1e-5 and every output within two roundings
/// of the input type, 2u·(1 + |out|) (u = 2⁻⁸ bf16, 2⁻¹¹ fp16), of the CPU's; lse within 1e-3;
/// no kernel error flag. Also: the schedule object filled by a first call is
/// reused bit for bit by a second.
///
/// With `--format model1`: random MODEL1 sparse decodes (`d_qk = 512`, with an extra cache of
/// `--extra-topk` entries on pages of `--extra-page-size`) against the Float64 reference instead
/// (``Model1Case``).
struct CheckSparseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-sparse",
        abstract: "Check sparse decoding, FP8 sparse caches and attention sinks against the CPU backend.")

    @Option(help: "cpu or cuda.") var backend = "cuda"
    @Option(help: "Random cases to run.") var cases = 20
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Query heads: a number, or 'random' (64, 128 and odd counts).") var heads = "random"
    @Option(help: "Largest topk of a random case.") var maxTopk = 2048
    @Option(help: "Cache page size of every case (default: drawn from 1, 61, 64, 256).") var pageSize: Int?
    @Option(help: "Cases: sparse, dense (with a sink) or random.") var mode = "random"
    @Option(help: "Cache format: native, fp8-ds, model1 (FlashMLA HEAD's MODEL1, d_qk 512, against the Float64 reference) or random (native or fp8-ds).")
    var format = "random"
    @Option(help: "model1: entries per extra index list (0: no extra cache; default: drawn from 0, 64, 200, 512).")
    var extraTopk: Int?
    @Option(help: "model1: the extra cache's page size (default: drawn from 2, 61, 64).") var extraPageSize: Int?
    @Option(help: "Attention sink: yes, no or random (dense cases always have one).") var sink = "random"
    @Option(help: "Query (and 16-bit cache) type: bf16, fp16 or random (random: FP8 cases bf16, as FlashMLA's).") var dtype = "random"

    /// The type `--dtype` fixes, or nil for the generator's draw.
    private var elementType: ElementType? { dtype == "random" ? nil : dtype == "fp16" ? .float16 : .bfloat16 }

    func validate() throws {
        guard ["bf16", "fp16", "random"].contains(dtype) else {
            throw ValidationError("--dtype: expected bf16, fp16 or random, given \(dtype)")
        }
        guard ["native", "fp8-ds", "model1", "random"].contains(format) else {
            throw ValidationError("--format: expected native, fp8-ds, model1 or random, given \(format)")
        }
        if format != "model1", extraTopk != nil || extraPageSize != nil {
            throw ValidationError("--extra-topk and --extra-page-size need --format model1")
        }
        if let extraTopk, extraTopk < 0 { throw ValidationError("--extra-topk: expected 0 or more, given \(extraTopk)") }
        if let extraPageSize, !(1 ... KVCacheFormat.maxPageSize).contains(extraPageSize) {
            throw ValidationError("--extra-page-size: expected 1...\(KVCacheFormat.maxPageSize), given \(extraPageSize)")
        }
    }

    func run() throws {
        let engine = try MLAEngine(backend: backend == "cpu" ? .cpu : .cuda(device: 0))
        if format == "model1" { return try runModel1(on: engine) }
        let reference = try MLAEngine(backend: .cpu)
        var generator = SparseCaseGenerator(seed: seed)
        var failures = 0
        for index in 0 ..< cases {
            var spec = generator.spec(heads: heads, maxTopk: maxTopk)
            if let pageSize { spec.pageSize = pageSize }
            if mode != "random" { spec.dense = mode == "dense" }
            if format != "random" { spec.fp8 = format == "fp8-ds"; if spec.fp8 { spec.elementType = .bfloat16 } }
            if sink != "random" { spec.sink = sink == "yes" }
            if let elementType { spec.elementType = elementType }
            let problems = try SparseCase(spec, generator: &generator).check(on: engine, against: reference)
            print("\(problems.isEmpty ? "ok  " : "FAIL") \(index): \(spec)")
            for problem in problems { print("     \(problem)") }
            if !problems.isEmpty { failures += 1 }
        }
        print("\(cases - failures)/\(cases) cases passed")
        if failures > 0 { throw ExitCode.failure }
    }

    /// `--format model1`: random sparse MODEL1 cases (``Model1Case``) against the Float64 reference.
    private func runModel1(on engine: MLAEngine) throws {
        var generator = SparseCaseGenerator(seed: seed)
        var failures = 0
        for index in 0 ..< cases {
            var spec = generator.spec(heads: heads, maxTopk: maxTopk)
            if let pageSize { spec.pageSize = pageSize }
            spec.dense = false
            spec.fp8 = false
            if sink != "random" { spec.sink = sink == "yes" }
            if let elementType { spec.elementType = elementType }
            let extra = extraTopk ?? [0, 64, 200, 512].randomElement(using: &generator)!
            let extraPage = extraPageSize ?? [2, 61, 64].randomElement(using: &generator)!
            let model1 = Model1Case(spec, extraTopk: extra, extraPageSize: extraPage, generator: &generator)
            let problems = try model1.check(on: engine)
            print("\(problems.isEmpty ? "ok  " : "FAIL") \(index): \(model1.problem.config)" + (spec.sink ? " sink" : ""))
            for problem in problems { print("     \(problem)") }
            if !problems.isEmpty { failures += 1 }
        }
        print("\(cases - failures)/\(cases) cases passed")
        if failures > 0 { throw ExitCode.failure }
    }
}
