import Foundation
import ArgumentParser
import FlashMLA

/// `flashmla check-sparse`: random sparse decodes (DeepSeek-V3.2 index lists, optional
/// `topkLength`, −1 holes, all-invalid rows, zero lengths), from a bf16/fp16 cache or the 656-byte
/// FP8 cache, with and without an attention sink, and dense decodes with a sink, on the chosen
/// backend against the CPU backend (which the test suite checks against a Float64 reference).
///
/// Each case: outputs poisoned with NaN first; no NaN left; rows without a key exactly 0 with
/// lse +∞; outputs within bf16/fp16 rounding (1/128 relative + 1e-3 absolute) of the CPU's;
/// lse within 1e-3; no kernel error flag. Also: the schedule object filled by a first call is
/// reused bit for bit by a second.
struct CheckSparseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-sparse",
        abstract: "Check sparse decoding, FP8 sparse caches and attention sinks against the CPU backend.")

    @Option(help: "cpu or cuda.") var backend = "cuda"
    @Option(help: "Random cases to run.") var cases = 20
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Query heads: a number, or 'random' (64, 128 and odd counts).") var heads = "random"
    @Option(help: "Largest topk of a random case.") var maxTopk = 2048

    func run() throws {
        // The GPU's sparse path is off by default (it failed this check on an H200); this command
        // exists to check it, so it turns it on for itself.
        if backend != "cpu" { setenv("FLASHMLA_GPU_SPARSE", "1", 0) }
        let engine = try MLAEngine(backend: backend == "cpu" ? .cpu : .cuda(device: 0))
        let reference = try MLAEngine(backend: .cpu)
        var generator = SparseCaseGenerator(seed: seed)
        var failures = 0
        for index in 0 ..< cases {
            let spec = generator.spec(heads: heads, maxTopk: maxTopk)
            let problems = try SparseCase(spec, generator: &generator).check(on: engine, against: reference)
            print("\(problems.isEmpty ? "ok  " : "FAIL") \(index): \(spec)")
            for problem in problems { print("     \(problem)") }
            if !problems.isEmpty { failures += 1 }
        }
        print("\(cases - failures)/\(cases) cases passed")
        if failures > 0 { throw ExitCode.failure }
    }
}
