// Tests of the MODEL1 grid fields (kv_format model1, extra_topk, extra_topk_length, extra_page_block_size) and check-sparse --format model1.
import FlashMLA
import FlashMLATesting
import Foundation
import Testing
@testable import FlashMLACLI

/// Grid rows in the MODEL1 format and with an extra cache: what `bench` and `check` accept and the
/// usage errors they give, and `check-sparse --format model1` on the CPU backend.
@Suite struct Model1GridTests {
    /// The usage error `bench --grid` gives for a grid of one configuration, or nil.
    private func error(_ row: String) throws -> UsageError? {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flashmla-model1-\(UUID().uuidString).json")
        try Data(#"{"configs": [\#(row)]}"#.utf8).write(to: url)
        do {
            _ = try BenchCommand.parse(["--grid", url.path]).plan()
            return nil
        } catch let usage as UsageError {
            return UsageError(String(usage.field.dropFirst("\(url.path): configs[0]".count)), expected: usage.expected,
                              given: usage.given)
        }
    }

    private let sparse = #""b": 2, "s_q": 1, "mean_sk": 300, "h_q": 16, "topk": 64"#

    @Test func model1RowsWithAnExtraCacheAreAccepted() throws {
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"d\": 512}") == nil)
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"extra_topk\": 128, \"extra_page_block_size\": 2, \"extra_topk_length\": [5, 0]}") == nil)
    }

    @Test func badModel1AndExtraFieldsAreNamed() throws {
        #expect(try error(#"{"b": 2, "s_q": 1, "mean_sk": 300, "h_q": 16, "kv_format": "model1"}"#)?.field.hasSuffix("kv_format") == true)
        #expect(try error("{\(sparse), \"extra_topk\": 64}")?.field.hasSuffix("kv_format") == true)
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"extra_topk\": 0}")?.field.hasSuffix("extra_topk") == true)
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"extra_topk\": 8, \"extra_page_block_size\": 300}")?
                    .field.hasSuffix("extra_page_block_size") == true)
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"extra_topk\": 8, \"extra_topk_length\": [9, 1]}")?
                    .field.hasSuffix("extra_topk_length[0]") == true)
        #expect(try error("{\(sparse), \"kv_format\": \"model1\", \"extra_topk_length\": 3}")?
                    .field.hasSuffix("extra_topk_length") == true)
        #expect(try error("{\(sparse), \"kv_format\": \"fp8-ds\", \"d\": 512}")?.field.hasSuffix("d") == true)
    }

    @Test func checkRefusesRandomModel1Cases() {
        #expect(throws: (any Error).self) { _ = try CheckCommand.parse(["--kv-format", "model1"]) }
    }

    /// The CPU backend passes `check-sparse --format model1` against the Float64 reference (the GPU
    /// runs the same comparison); the comparison fails a wrong result (another softmax scale).
    @Test func checkSparseModel1OnTheCPU() throws {
        var generator = SparseCaseGenerator(seed: 5)
        var spec = generator.spec(heads: "16", maxTopk: 150)
        spec.dense = false
        spec.topkLength = true
        spec.sink = true
        let model1 = Model1Case(spec, extraTopk: 70, extraPageSize: 2, generator: &generator)
        let engine = try MLAEngine(backend: .cpu)
        #expect(try model1.check(on: engine) == [])
        #expect(!(try model1.check(on: engine, softmaxScale: 0.05)).isEmpty)
    }
}
