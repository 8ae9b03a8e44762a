// Tests of the sparse (DeepSeek-V3.2) grid fields: topk, topk_length, kv_format, invalid_indices, the sparse-v32 preset, estimates, JSON lines and baselines.
import FlashMLA
import FlashMLATesting
import Foundation
import Testing
@testable import FlashMLACLI

/// Grid rows with `topk` are sparse decodes; every bad value is a usage error naming the field,
/// in `bench` and `check` alike, before anything is allocated.
@Suite struct SparseGridTests {
    private func gridFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-sparse-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// The usage error `bench` and `check` give for a grid of one configuration with `fields`
    /// (added to a valid sparse row), after checking that both give the same one.
    private func error(_ fields: String, flags: [String] = []) throws -> UsageError? {
        let path = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 300, "h_q": 16, "topk": 64, "#
                                + fields + "}]}")
        var errors: [UsageError?] = []
        for plan in [{ _ = try BenchCommand.parse(["--grid", path] + flags).plan() },
                     { _ = try CheckCommand.parse(["--grid", path] + flags).gridPlan() }] as [() throws -> Void] {
            do {
                try plan()
                errors.append(nil)
            } catch let usage as UsageError {
                errors.append(usage)
            }
        }
        #expect(errors[0] == errors[1], "bench and check differ")
        guard let found = errors[0] else { return nil }
        #expect(found.field.hasPrefix("\(path): configs[0]"))
        return UsageError(String(found.field.dropFirst("\(path): configs[0]".count)), expected: found.expected, given: found.given)
    }

    @Test func sparseFieldsDecode() throws {
        let grid = try BenchGrid.decode(Data("""
        {"configs": [
          {"b": 3, "s_q": 2, "mean_sk": 500, "h_q": 64, "topk": 128, "topk_length": [0, 64, 128], "kv_format": "fp8-ds",
           "invalid_indices": 0.25},
          {"b": 3, "s_q": 2, "mean_sk": 500, "h_q": 64, "topk": 128, "topk_length": 100},
          {"b": 3, "s_q": 2, "mean_sk": 500, "h_q": 64}
        ]}
        """.utf8))
        let sparse = grid.configs[0]
        #expect(sparse.topk == 128 && sparse.topkLength == .each([0, 64, 128]) && sparse.kvFormat == .fp8DS)
        #expect(sparse.invalidIndices == 0.25)
        #expect(sparse.causal == false, "sparse decoding has no causal mask: the default is false")
        #expect(sparse.problems().isEmpty)
        #expect(sparse.summary == "b=3 s_q=2 mean_sk=500 h_q=64 h_kv=1 topk=128 fp8-ds")
        #expect(grid.configs[1].topkLength?.counts(batchSize: 3) == [100, 100, 100])
        #expect(grid.configs[2].topk == nil && grid.configs[2].causal == true && grid.configs[2].kvFormat == nil)
    }

    @Test func badSparseValuesNameTheirField() throws {
        #expect(try error(#""kv_format": "native""#) == nil)
        #expect(try error(#""topk_length": 0, "h_kv": 1, "causal": false"#) == nil)
        #expect(try error(#""topk_length": 65"#) == UsageError(".topk_length", expected: "0…topk = 0…64", given: "65"))
        #expect(try error(#""topk_length": [3, 70]"#) == UsageError(".topk_length[1]", expected: "0…topk = 0…64", given: "70"))
        #expect(try error(#""topk_length": [3]"#)
                == UsageError(".topk_length", expected: "one count for every request, or b = 2 counts", given: "1 counts"))
        #expect(try error(#""h_kv": 2"#) == UsageError(".h_kv", expected: "1 for sparse decoding (topk)", given: "2"))
        #expect(try error(#""causal": true"#)
                == UsageError(".causal", expected: "false: sparse decoding (topk) has no causal mask", given: "true"))
        #expect(try error(#""kv_format": "fp8""#)
                == UsageError(".kv_format", expected: "native, fp8-ds or model1 for sparse decoding (topk)", given: "fp8"))
        #expect(try error("", flags: ["--kv-format", "fp8"])
                == UsageError(".kv_format", expected: "native, fp8-ds or model1 for sparse decoding (topk)", given: "fp8 (--kv-format)"))
        #expect(try error(#""invalid_indices": 1.5"#)
                == UsageError(".invalid_indices", expected: "a fraction in 0…1 (of index entries set to -1)", given: "1.5"))
        #expect(try error(#""topk_length": 1.5"#) == UsageError(".topk_length", expected: "an integer", given: "1.5"))
        #expect(try error(#""topk_length": [1, 2.5]"#) == UsageError(".topk_length[1]", expected: "an integer", given: "2.5"))
        #expect(try error(#""topk_length": "all""#)
                == UsageError(".topk_length", expected: "an integer (every request) or a list of integers (one per request)",
                              given: "a string"))
        let format = try #require(try error(#""kv_format": "fp9""#))
        #expect(format.field == ".kv_format" && format.given.contains("kv_format \"fp9\" is not native, fp8, fp8-ds"))
    }

    @Test func sparseOnlyFieldsNeedTopk() throws {
        let path = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "topk_length": 8}]}"#)
        #expect(throws: UsageError("\(path): configs[0].topk_length",
                                   expected: "a topk beside it (it describes sparse decoding's index lists)", given: "8")) {
            _ = try BenchCommand.parse(["--grid", path]).plan()
        }
        let topk = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "topk": 0}]}"#)
        #expect(throws: UsageError("\(topk): configs[0].topk", expected: "1…2147483647", given: "0")) {
            _ = try CheckCommand.parse(["--grid", topk]).gridPlan()
        }
        let heads = try gridFile(#"{"configs": [{"b": 2, "s_q": 1, "mean_sk": 64, "h_q": 16, "h_kv": 2, "kv_format": "fp8-ds"}]}"#)
        #expect(throws: UsageError("\(heads): configs[0].h_kv", expected: "1 for kv_format fp8-ds", given: "2")) {
            _ = try BenchCommand.parse(["--grid", heads]).plan()
        }
    }

    @Test func sparseV32PresetHoldsFlashMLAsShapes() throws {
        let grid = try BenchGrid.named("sparse-v32")
        #expect(grid.configs.count == 16)
        #expect(Set(grid.configs.map(\.b)) == [128, 148] && Set(grid.configs.map(\.hQ)) == [64, 128])
        #expect(Set(grid.configs.map(\.sQ)) == [1, 2])
        #expect(grid.configs.allSatisfy { $0.topk == 2048 && $0.meanSk == 32768 && $0.hKV == 1 && $0.varlen && !$0.causal })
        #expect(grid.configs.filter { $0.kvFormat == .fp8DS }.count == 8 && grid.configs.filter { $0.kvFormat == .native }.count == 8)
        for config in grid.configs { #expect(config.problems().isEmpty, "\(config.summary)") }
        #expect(try BenchGrid.named("built-in-small") == .builtIn)
        // Every preset is a plan within the default memory limit, in both commands.
        let fp8 = try BenchCommand.parse(["--grid", "sparse-v32", "--only", "kv_format=fp8-ds,b=148"]).plan()
        #expect(fp8.entries.count == 4 && fp8.entries.allSatisfy { $0.config.kvFormat == .fp8DS })
        // Repeated --only options apply together (ArgumentParser alone keeps the last one).
        let repeated = try BenchCommand.parse(["--grid", "sparse-v32", "--only", "kv_format=fp8-ds", "--only", "b=148"]).plan()
        #expect(repeated.entries == fp8.entries)
        let rows = try CheckCommand.parse(["--grid", "sparse-v32", "--dtype", "bf16", "--only", "b=128", "--only", "s_q=1", "--only", "h_q=64"]).gridPlan()
        #expect(rows?.count == 2)
        #expect(try CheckCommand.parse(["--grid", "sparse-v32", "--dtype", "bf16"]).gridPlan()?.count == 16)
        // Not a preset: a path, and its error says so.
        #expect(throws: UsageError("--grid", expected: "a readable JSON grid file", given: "sparse-v33 (No such file or directory)")) {
            _ = try BenchGrid.named("sparse-v33")
        }
    }

    @Test func filtersSelectSparseRowsAndLayouts() throws {
        let sparse = BenchConfig(b: 1, sQ: 1, meanSk: 64, hQ: 16, topk: 32, kvFormat: .fp8DS)
        let dense = BenchConfig(b: 1, sQ: 1, meanSk: 64, hQ: 16)
        #expect(try ConfigFilter(parsing: "topk=32").accepts(sparse) && !(try ConfigFilter(parsing: "topk=32").accepts(dense)))
        #expect(try ConfigFilter(parsing: "topk=none").accepts(dense))
        #expect(try ConfigFilter(parsing: "kv_format=fp8-ds").accepts(sparse) && !(try ConfigFilter(parsing: "kv_format=fp8-ds").accepts(dense)))
        // A row without kv_format runs the command's --kv-format, and is selected by it.
        let path = try gridFile(#"{"configs": [{"b": 1, "s_q": 1, "mean_sk": 64, "h_q": 16}]}"#)
        #expect(try BenchCommand.parse(["--grid", path, "--kv-format", "fp8", "--only", "kv_format=fp8"]).plan().entries.count == 1)
    }

    @Test func sparseEstimateCoversWhatIsAllocated() throws {
        for (format, pageSize) in [(KVFormatChoice.native, 64), (.fp8DS, 64), (.native, 61), (.fp8DS, 256)] {
            let lengths: [Int32] = [100, 0, 300]
            let config = BenchConfig(b: 3, sQ: 2, meanSk: 133, hQ: 8, cacheSeqlens: lengths.map(Int.init), topk: 50,
                                     topkLength: .every(20), kvFormat: format)
            let estimate = try MemoryEstimate.sparse(config, lengths: LengthSummary(lengths), elementBytes: 2, format: format,
                                                     pageSize: pageSize).check(limitBytes: 1 << 30, field: "x")
            let problem = SparseProblem(SparseProblemConfig(cacheSeqlens: lengths, queryLength: 2, queryHeads: 8, topk: 50,
                                                            topkLength: [20, 20, 20], elementType: .bfloat16,
                                                            pageSize: pageSize, kvFormat: format), seed: 1)
            let inputs = [problem.q, problem.kCache, problem.indices, problem.topkLength!]
                .reduce(0) { $0 + $1.view.elementCount * $1.elementType.byteCount }
            let outputs = 3 * 2 * 8 * 512 * 2 + 3 * 8 * 2 * 4
            #expect(estimate >= inputs + outputs, "\(format) P=\(pageSize): \(estimate) < \(inputs + outputs)")
            #expect(estimate - (inputs + outputs) <= 3 * 255 * 1152, "at most b·(P−1) slots more")
        }
        // A sparse row's cache is refused before anything is allocated, naming the tensor.
        let path = try gridFile(#"{"configs": [{"b": 100000, "s_q": 2, "mean_sk": 1000000, "h_q": 128, "topk": 2048}]}"#)
        var refused: UsageError?
        do { _ = try BenchCommand.parse(["--grid", path]).plan() } catch let error as UsageError { refused = error }
        #expect(refused?.field == "\(path): configs[0] (b=100000 s_q=2 mean_sk=1000000 h_q=128 h_kv=1 topk=2048 native)")
        #expect(refused?.given.hasPrefix("(64·Σ⌈length/64⌉+b·63+64)·576 elements = 57603628836864 (") == true, "\(refused?.given ?? "-")")
        #expect(refused?.given.hasSuffix("for kCache, which exceeds it") == true)
    }

    /// A sparse result's FLOPs and bytes are FlashMLA's (`count_flop_and_mem_vol_for_decode`),
    /// with the distinct tokens read; its JSON line states them and the floor.
    @Test func sparseJSONLineStatesFlopsBytesAndFloor() throws {
        let config = BenchConfig(b: 128, sQ: 2, meanSk: 32768, hQ: 128, varlen: true, topk: 2048, kvFormat: .fp8DS)
        var result = BenchResult(config: config, backend: "cuda", kernel: "sm80+sparse+fp8-ds", device: "H200", dtype: .bf16,
                                 totalSeqlens: 128 * 32768, milliseconds: 1.0)
        result.sparse = SparseFigures(topk: 2048, kvFormat: .fp8DS, attendedEntries: 128 * 2 * 2048, uniqueTokens: 500_000,
                                      tokenBytes: 656)
        result.floorRates = BenchChart.Rates(copyGBps: 4000, gemmTFLOPS: 800)
        let flops = 2.0 * 128 * (128 * 2 * 2048) * (576 + 512)
        let bytes = 500_000.0 * 656 + 2 * 128 * 2 * 128 * (576 + 512)
        #expect(result.flops == flops && result.bytes == bytes)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.jsonLine.utf8)) as? [String: Any])
        #expect(object["topk"] as? Int == 2048 && object["kv_format"] as? String == "fp8-ds")
        #expect(object["attended"] as? Int == 524_288 && object["unique_tokens"] as? Int == 500_000)
        #expect((object["flop"] as? NSNumber)?.doubleValue == flops && (object["bytes"] as? NSNumber)?.doubleValue == bytes)
        #expect(object["causal"] as? Bool == false)
        let floor = max(bytes / 4e12, flops / 800e12) * 1e3
        #expect(abs((object["floor_ms"] as? NSNumber)!.doubleValue - floor) < 1e-4)
        #expect(abs((object["pct_of_floor"] as? NSNumber)!.doubleValue - floor * 100) < 0.05)
        let keys = result.jsonLine.split(separator: ",").map { $0.split(separator: ":")[0].trimmingCharacters(in: .init(charactersIn: "{ \"")) }
        #expect(keys == ["b", "s_q", "mean_sk", "h_q", "h_kv", "d", "dv", "causal", "varlen", "topk", "kv_format", "impl", "backend",
                         "kernel", "device", "dtype", "total_seqlens", "attended", "unique_tokens", "flop", "bytes", "ms", "tflops",
                         "gbps", "floor_ms", "pct_of_floor"])
        #expect(BenchTable.render([result], gridName: "g").contains("topk 2048 fp8-ds"))
    }

    /// `bench_sparse.py`'s lines (FlashMLA HEAD on the FP8 cache) match the sparse fp8-ds rows of
    /// the same shape, never a dense or bf16 row.
    @Test func sparseBaselineLinesMatchOnlySparseRows() throws {
        let baseline = try FlashMLABaseline.parse("""
        {"impl": "flash_mla", "b": 128, "s_q": 2, "h_q": 128, "topk": 2048, "s_k": 32768, "varlen": true, "ms": 0.75}
        {"b": 128, "s_q": 2, "mean_sk": 32768, "h_q": 128, "varlen": true, "ms": 9.5}
        """, source: "head.jsonl")
        let fp8 = BenchConfig(b: 128, sQ: 2, meanSk: 32768, hQ: 128, varlen: true, topk: 2048, kvFormat: .fp8DS)
        #expect(baseline.milliseconds(for: fp8, dtype: .bf16) == 0.75)
        var bf16Cache = fp8
        bf16Cache.kvFormat = .native
        #expect(baseline.milliseconds(for: bf16Cache, dtype: .bf16) == nil)
        var otherTopk = fp8
        otherTopk.topk = 1024
        #expect(baseline.milliseconds(for: otherTopk, dtype: .bf16) == nil)
        #expect(baseline.milliseconds(for: BenchConfig(b: 128, sQ: 2, meanSk: 32768, hQ: 128, varlen: true), dtype: .bf16) == 9.5)
    }
}
