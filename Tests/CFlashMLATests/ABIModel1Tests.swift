// Tests of the C ABI's MODEL1 format and extra cache (the _v2 sparse functions), run on the CPU device.
import Foundation
import Testing
@testable import CFlashMLA
import FlashMLA
import FlashMLATesting

/// A descriptor of a host view with its own strides (a MODEL1 cache's padded pages).
func hostDescriptor(view: TensorView) -> Descriptor {
    Descriptor(view.elementType == .uint8 ? Code.uint8 : view.elementType == .int32 ? Code.int32 : Code.bfloat16,
               view.shape, strides: view.strides, data: UInt64(UInt(bitPattern: view.hostPointer!)))
}

/// MODEL1 sparse decoding with an extra cache through `flashmla_swift_get_sparse_metadata_v2` and
/// `flashmla_swift_decode_sparse_v2` on `FLASHMLA_SWIFT_DEVICE_CPU`: bit for bit the Swift CPU path,
/// and the extra arguments' errors named.
@Suite struct ABIModel1Tests {
    static let config = SparseProblemConfig(cacheSeqlens: [200, 70], queryLength: 2, queryHeads: 16, topk: 64,
                                            topkLength: [40, 0], invalidFraction: 0.1, elementType: .bfloat16, pageSize: 61,
                                            kvFormat: .model1, extraTopk: 48, extraTopkLength: [48, 9], extraPageSize: 2)

    /// Runs the v2 schedule and decode; `change` edits the descriptors first. Status, message, out, lse.
    static func run(_ problem: SparseProblem, format: Int32 = 3,
                    change: (inout [String: Descriptor?]) -> Void = { _ in }) throws -> (Int32, String, Tensor, Tensor) {
        let config = problem.config
        var parts: Int64 = 0
        #expect(flashmla_swift_num_sm_parts(Devices.cpu, Int64(config.queryLength * config.queryHeads), 1, &parts) == 0)
        let schedule = Tensor(hostElementType: .int32, shape: [Int(parts), 8])
        let splits = Tensor(hostElementType: .int32, shape: [config.batchSize + 1])
        let out = Tensor(hostElementType: .bfloat16, shape: [config.batchSize, config.queryLength, config.queryHeads, 512])
        let lse = Tensor(hostElementType: .float32, shape: [config.batchSize, config.queryHeads, config.queryLength])
        HostElements(out).fill(.nan)
        var d: [String: Descriptor?] = [
            "q": hostDescriptor(problem.q), "kCache": hostDescriptor(view: problem.kCache.view),
            "indices": hostDescriptor(problem.indices), "topkLength": problem.topkLength.map(hostDescriptor),
            "extraKCache": problem.extraKCache.map { hostDescriptor(view: $0.view) },
            "extraIndices": problem.extraIndices.map(hostDescriptor),
            "extraTopkLength": problem.extraTopkLength.map(hostDescriptor),
            "schedule": hostDescriptor(schedule), "splits": hostDescriptor(splits),
            "out": hostDescriptor(out), "lse": hostDescriptor(lse)]
        change(&d)
        let scheduled = withExtendedLifetime(d) {
            flashmla_swift_get_sparse_metadata_v2(Devices.cpu, nil, d["indices"]!?.raw, d["topkLength"]!?.raw,
                                                  d["extraIndices"]!?.raw, d["extraTopkLength"]!?.raw,
                                                  Int64(config.queryHeads), d["schedule"]!?.raw, d["splits"]!?.raw)
        }
        guard scheduled == 0 else { return (scheduled, lastError(), out, lse) }
        let status = withExtendedLifetime(d) {
            flashmla_swift_decode_sparse_v2(Devices.cpu, nil, d["q"]!?.raw, d["kCache"]!?.raw, d["indices"]!?.raw,
                                            d["topkLength"]!?.raw, d["extraKCache"]!?.raw, d["extraIndices"]!?.raw,
                                            d["extraTopkLength"]!?.raw, d["schedule"]!?.raw, d["splits"]!?.raw, 512, 0.05,
                                            format, nil, d["out"]!?.raw, d["lse"]!?.raw, nil)
        }
        return (status, lastError(), out, lse)
    }

    @Test func model1WithAnExtraCacheEqualsTheSwiftCPUPath() throws {
        let problem = SparseProblem(Self.config, seed: 3)
        let (status, message, out, lse) = try Self.run(problem)
        try #require(status == 0, "\(message)")
        let engine = try MLAEngine(backend: .cpu)
        let swift = try engine.flashMLAWithKVCache(q: problem.q.view, kCache: problem.kCache.view, indices: problem.sparseIndices,
                                                   headDimV: 512, schedule: MLASchedule(), softmaxScale: 0.05, kvFormat: .fp8Model1)
        #expect(bits(out) == bits(swift.out) && bits(lse) == bits(swift.lse))
        #expect(!HostElements(out).load().contains { $0.isNaN })
    }

    @Test func extraArgumentsAreNamed() throws {
        let problem = SparseProblem(Self.config, seed: 4)
        // Extra lists without the extra cache (the schedule takes them; the decode refuses them).
        let (status, message, out, _) = try Self.run(problem) { $0["extraKCache"] = .some(nil) }
        #expect(status != 0 && message.contains("'extraIndices'"), "\(message)")
        #expect(HostElements(out).load().allSatisfy { $0.isNaN })
        // A 656-byte extra cache for a MODEL1 call.
        let wrong = Tensor(hostElementType: .uint8, shape: [4, 2, 1, 656])
        let (status2, message2, _, _) = try Self.run(problem) { $0["extraKCache"] = hostDescriptor(wrong) }
        #expect(status2 != 0 && message2.contains("'extraKCache'") && message2.contains("584"), "\(message2)")
        // extraTopkLength alone, in the schedule.
        let (status3, message3, _, _) = try Self.run(problem) { $0["extraIndices"] = .some(nil) }
        #expect(status3 != 0 && message3.contains("extraTopkLength"), "\(message3)")
        // An unknown format code.
        let (status4, message4, _, _) = try Self.run(problem, format: 4)
        #expect(status4 != 0 && message4.contains("kvFormat"), "\(message4)")
        withExtendedLifetime(wrong) {}
    }
}
