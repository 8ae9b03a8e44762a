// Tests of the CLI's input checks and memory estimates.
import ArgumentParser
import FlashMLA
import Foundation
import Testing
@testable import FlashMLACLI
import FlashMLATesting

/// Every bad input a new user hit is a one-line usage error naming the field, the expected and the
/// given value, raised before anything is allocated, with exit status 2.
@Suite struct InputValidationTests {
    /// A grid file with `text` in a fresh folder; returns its path.
    private func gridFile(_ text: String, name: String = "grid.json") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-grid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// The usage error `body` throws; nil (and a recorded issue) when it throws none or another.
    private func usageError(_ body: () throws -> Void) -> UsageError? {
        do {
            try body()
            Issue.record("no error")
        } catch let error as UsageError {
            return error
        } catch {
            Issue.record("not a UsageError: \(error)")
        }
        return nil
    }

    private func benchPlanError(_ path: String, _ extra: [String] = []) -> UsageError? {
        usageError { _ = try BenchCommand.parse(["--grid", path] + extra).plan() }
    }

    private func checkPlanError(_ path: String, _ extra: [String] = []) -> UsageError? {
        usageError { _ = try CheckCommand.parse(["--grid", path] + extra).gridPlan() }
    }

    /// The exit status and message `arguments` end with, when parsing fails.
    private func parseEnding(_ arguments: [String]) -> Termination? {
        do {
            _ = try FlashMLACommand.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed")
            return nil
        } catch {
            return Termination(for: error)
        }
    }

    @Test func hugeBatchIsRefusedBeforeAllocating() throws {
        let path = try gridFile(#"{"configs": [{"b": 1e8, "s_q": 1, "mean_sk": 1024, "h_q": 16}]}"#)
        let error = try #require(benchPlanError(path))
        #expect(error.field.hasPrefix("\(path): configs[0] (b=100000000"))
        #expect(error.expected == "at most 64 GiB of tensors (--memory-limit-gib)")
        #expect(error.given == "b·s_q·h_q·576 elements = 921600000000 (1.7 TiB) for q, which exceeds it")
        #expect(!error.description.contains("\n"))
        #expect(Termination(for: error).status == 2)
    }

    @Test func batchOfInt64MaxIsOutOfRange() throws {
        let path = try gridFile(#"{"configs": [{"b": 9223372036854775807, "s_q": 1, "mean_sk": 1024, "h_q": 16}]}"#)
        #expect(benchPlanError(path) == UsageError("\(path): configs[0].b", expected: "1…2147483647",
                                                   given: "9223372036854775807"))
    }

    @Test func hugeMeanLengthIsOutOfRange() throws {
        let path = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 1e11, "h_q": 16}]}"#)
        #expect(benchPlanError(path) == UsageError("\(path): configs[0].mean_sk", expected: "1…2147483647",
                                                   given: "100000000000"))
    }

    @Test func hugeDrawnLengthsAreCheckedAfterTheDraw() throws {
        // Within every field's range, and no bound before the draw catches it: the drawn lengths
        // (clamped to 2³¹−1, never trapping) make the cache too large.
        let path = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 2000000000, "h_q": 16, "varlen": true}]}"#)
        let error = try #require(benchPlanError(path))
        #expect(error.given.hasPrefix("b·⌈longest/256⌉·4·64·h_kv·576 elements = "))
        #expect(error.given.hasSuffix("for kCache, which exceeds it"))
    }

    @Test func sizesOverflowingIntAreReported() {
        let estimate = MemoryEstimate(tensors: [.init(name: "q", dimensions: [
            .init(name: "b", value: 1 << 31), .init(name: "s_q", value: 1 << 31), .init(name: "h_q", value: 1 << 31),
        ], elementBytes: 2)])
        #expect(throws: UsageError("x", expected: "at most 1 GiB of tensors (--memory-limit-gib)",
                                   given: "b·s_q·h_q elements = 2147483648·2147483648·2147483648 for q, which overflows 64 bits")) {
            try estimate.check(limitBytes: 1 << 30, field: "x")
        }
        #expect(MemoryEstimate.product([Int.max, 2]) == nil)
        #expect(MemoryEstimate.product([3, 5, 7]) == 105)
    }

    @Test func benchEstimateMatchesTheTensorsBenchAllocates() throws {
        let config = BenchConfig(b: 2, sQ: 1, meanSk: 150, hQ: 16, cacheSeqlens: [100, 200])
        let estimate = MemoryEstimate.bench(config, lengths: LengthSummary([100, 200]), elementBytes: 2)
        // q 2·1·16·576·2, kCache (2·4 pages)·64·1·576·2, blockTable 2·4·4, seqlens 2·4, out 2·1·16·512·2, lse 2·16·1·4
        #expect(try estimate.check(limitBytes: 1 << 30, field: "x") == 36_864 + 589_824 + 32 + 8 + 32_768 + 128)
        let inputs = BenchInputs(config: config, cacheSeqlens: [100, 200], elementType: .bfloat16, seed: 1)
        let allocated = [inputs.q, inputs.kCache, inputs.blockTable, inputs.cacheSeqlens]
            .reduce(0) { $0 + $1.view.elementCount * $1.view.elementType.byteCount }
        #expect(allocated == 36_864 + 589_824 + 32 + 8)
        #expect(throws: UsageError("x", expected: "at most 600 KiB of tensors (--memory-limit-gib)",
                                   given: "more in all (q, kCache, blockTable, cacheSeqlens, out, lse)")) {
            try estimate.check(limitBytes: 600 << 10, field: "x")
        }
    }

    @Test func checkEstimateMatchesTheTensorsCheckAllocates() throws {
        let lengths: [Int32] = [100, 0, 64]
        let config = BenchConfig(b: 3, sQ: 2, meanSk: 54, hQ: 8, hKV: 2, cacheSeqlens: lengths.map(Int.init))
        let bytes = try MemoryEstimate.check(config, lengths: LengthSummary(lengths), elementBytes: 2)
            .check(limitBytes: 1 << 30, field: "x")
        let problem = RandomProblem(ProblemConfig(cacheSeqlens: lengths, queryLength: 2, queryHeads: 8, kvHeads: 2,
                                                  causal: true, elementType: .bfloat16), seed: 3)
        let inputs = [problem.q, problem.kCache, problem.blockTable, problem.cacheSeqlens]
            .reduce(0) { $0 + $1.view.elementCount * $1.view.elementType.byteCount }
        let outputs = 3 * 2 * 8 * 512 * 2 + 3 * 8 * 2 * 4
        #expect(bytes >= inputs + outputs, "the estimate covers what is allocated")
        #expect(bytes - (inputs + outputs) <= 3 * 4, "up to two block-table columns more")
    }

    @Test func checkAndBenchAcceptTheSameGridFiles() throws {
        let texts = [
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "d": 100}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "h-kv": 2}]}"#,
            #"{"configs": [{"b": 1.5, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": "16"}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "h_q": 16}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "h_kv": 3}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "cache_seqlens": [1]}]}"#,
            #"{"dtype": "fp8", "configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#,
            #"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16}"#,
            #"{"configs": []}"#,
        ]
        for text in texts {
            let path = try gridFile(text)
            let bench = benchPlanError(path), check = checkPlanError(path)
            #expect(bench != nil && bench == check, "\(text): bench \(bench?.description ?? "-"), check \(check?.description ?? "-")")
            #expect(bench?.field.hasPrefix(path) == true)
        }
        let good = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16}, {"b": 1, "s_q": 2, "h_q": 8, "cache_seqlens": [70]}]}"#)
        #expect(try BenchCommand.parse(["--grid", good]).plan().entries.map(\.lengths) == [[64, 64], [70]])
        #expect(try CheckCommand.parse(["--grid", good, "--dtype", "bf16"]).gridPlan()?.map(\.cacheSeqlens) == [[64, 64], [70]])
    }

    @Test func fieldErrorsNameThePlace() throws {
        let d = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16}, {"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "d": 100}]}"#)
        #expect(checkPlanError(d) == UsageError("\(d): configs[1].d", expected: "576", given: "100"))
        let typo = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "h-kv": 2}]}"#)
        #expect(benchPlanError(typo)?.given == "unknown field \"h-kv\"")
        #expect(benchPlanError(typo)?.field == "\(typo): configs[0]")
        let fraction = try gridFile(#"{"configs": [{"b": 1.5, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#)
        #expect(benchPlanError(fraction) == UsageError("\(fraction): configs[0].b", expected: "an integer", given: "1.5"))
        let string = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": "16"}]}"#)
        #expect(benchPlanError(string) == UsageError("\(string): configs[0].h_q", expected: "an integer", given: "a string"))
        let truncated = try gridFile(#"{"configs": [{"b": 2"#)
        #expect(benchPlanError(truncated)?.expected == "valid JSON")
    }

    @Test func emptyGridSaysSo() throws {
        let path = try gridFile(#"{"name": "none", "configs": []}"#)
        #expect(benchPlanError(path) == UsageError(path, expected: "at least one configuration in \"configs\"",
                                                   given: "an empty list"))
    }

    @Test func filterSelectingNothingSaysWhichAndWhatThereIs() throws {
        let error = usageError { _ = try BenchCommand.parse(["--only", "h_q=7"]).plan() }
        #expect(error == UsageError("--only h_q=7",
                                    expected: "a filter that selects at least one of the 5 configuration(s) of built-in-small",
                                    given: "one that selects none (the grid has h_q = 16, 32, 128)"))
        let path = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#)
        #expect(checkPlanError(path, ["--only", "varlen=true"])?.field == "--only varlen=true")
    }

    @Test func folderOrMissingGridNamesPathAndReason() {
        let folder = FileManager.default.temporaryDirectory.path
        #expect(benchPlanError(folder) == UsageError("--grid", expected: "a readable JSON grid file", given: "\(folder) (a directory)"))
        #expect(checkPlanError("/nonexistent/grid.json") == UsageError("--grid", expected: "a readable JSON grid file",
                                                                     given: "/nonexistent/grid.json (No such file or directory)"))
    }

    @Test func checkDTypeAcceptsOnlyKnownValues() throws {
        let ending = try #require(parseEnding(["check", "--dtype", "banana"]))
        #expect(ending.status == 2)
        #expect(ending.message.contains("'banana'") && ending.message.contains("'both'"))
        #expect(!ending.message.contains("\n"))
        #expect(try CheckCommand.parse(["--dtype", "bf16"]).dtype.elementTypes == [.bfloat16])
        #expect(try CheckCommand.parse(["--dtype", "half"]).dtype.elementTypes == [.float16])
        #expect(try CheckCommand.parse([]).dtype.elementTypes == [.bfloat16, .float16])
        #expect(try #require(parseEnding(["bench", "--dtype", "banana"])).status == 2)
    }

    @Test(arguments: [
        (["check", "--cases", "0"], "--cases: expected 1…1000000, given 0"),
        (["check", "--backend", "cuda:-1"], "--backend: expected cpu, cuda, cuda:N (N ≥ 0) or auto, given cuda:-1"),
        (["check", "--sample-rows", "0"], "--sample-rows: expected 1 or more, given 0"),
        (["check", "--only", "b=1"], "--only: expected --grid FILE beside it (it selects the grid's configurations), given no --grid"),
        (["bench", "--iterations", "0"], "--iterations: expected 1…100000, given 0"),
        (["bench", "--warmup-ms", "inf"], "--warmup-ms: expected 0…60000, given inf"),
        (["bench", "--memory-limit-gib", "0"], "--memory-limit-gib: expected 1…1048576, given 0"),
        (["bench", "--compare", "x.jsonl"], "--compare: expected --chart FILE.svg beside it (the comparison is drawn there), given no --chart"),
        (["bench", "--chart", "/nonexistent/c.svg"], "--chart: expected a file in an existing folder, given /nonexistent/c.svg (no folder /nonexistent)"),
        (["check-devices", "--devices", "0,x"], "--devices: expected at least two distinct device ordinals, comma-separated (0,1), given 0,x"),
    ])
    func badFlagValuesAreUsageErrors(arguments: [String], message: String) throws {
        let ending = try #require(parseEnding(arguments))
        #expect(ending == Termination(status: 2, message: "error: \(message)", toStandardOutput: false))
    }

    @Test func exitStatuses() throws {
        #expect(Termination(for: UsageError("--x", expected: "a", given: "b")) ==
                Termination(status: 2, message: "error: --x: expected a, given b", toStandardOutput: false))
        #expect(Termination(for: BenchError("the GPU fell off")) ==
                Termination(status: 1, message: "error: the GPU fell off", toStandardOutput: false))
        #expect(Termination(for: MLAError.backend("no device")).status == 1)
        #expect(Termination(for: ExitCode.failure) == Termination(status: 1, message: "", toStandardOutput: false))
        #expect(try #require(parseEnding(["bench", "--no-such-flag"])).status == 2)
        #expect(try #require(parseEnding(["bench", "--iterations", "many"])).status == 2)
    }

    @Test func versionFlagPrintsThePackageVersion() throws {
        let ending = try #require(parseEnding(["--version"]))
        #expect(ending == Termination(status: 0, message: FlashMLAVersion.string, toStandardOutput: true))
    }

    @Test func drawnLengthsNeverExceedInt32() {
        let config = BenchConfig(b: 64, sQ: 1, meanSk: Int(Int32.max), hQ: 16, varlen: true)
        let lengths = config.resolvedCacheSeqlens(seed: 5)
        #expect(lengths.contains(Int32.max), "draws above 2³¹−1 are clamped, not trapped")
        #expect(lengths.allSatisfy { $0 >= 1 })
    }
}
