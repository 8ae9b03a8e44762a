// Tests of DecodeSharedMemory against the sizes the kernels export, and of how a loaded kernel's size is read.
import Foundation
import Testing
@testable import FlashMLA
@testable import NVRTC

/// The host chooses a decode kernel by ``DecodeSharedMemory`` before compiling it, and launches it
/// with what the compiled module exports (`<name>_smem_bytes`). These tests hold the table equal
/// to the exports (through NVRTC, no GPU) and check the loader's comparison of the two.
@Suite struct SharedMemoryTableTests {
    /// Every decode entry point the table names, with its size: both element types.
    static func tableEntries() -> [(unit: KernelCatalog.Unit, name: String, bytes: Int)] {
        var entries: [(unit: KernelCatalog.Unit, name: String, bytes: Int)] = []
        for type in [ElementType.bfloat16, .float16] {
            for kernel in [DecodeKernel.hopperLockstep, .hopperSeesaw, .hopperSparse(.sparse), .hopperSparse(.sparseFP8DeepSeek),
                           .hopperSparse(.sparseFP8DeepSeek, pair: true)] {
                entries.append((kernel.unit, kernel.functionName(type), kernel.sharedMemoryBytes))
            }
            for (cache, byRows) in DecodeSharedMemory.portable {
                for (rows, byStages) in byRows {
                    for (stages, bytes) in byStages {
                        let tile = DecodeTile(rows: rows, stages: stages, cache: cache)
                        entries.append((cache.unit, tile.kernelName(type), bytes))
                    }
                }
            }
        }
        return entries
    }

    /// Each unit, compiled with static assertions that every export equals the table (front end
    /// only: a fraction of a second a unit). An entry the unit does not export fails too.
    @Test(.enabled(if: KernelSourceParsing.nvrtcAvailable, "needs NVRTC (FLASHMLA_NVRTC)"))
    func theTableEqualsWhatEachEntryPointExports() throws {
        let entries = Self.tableEntries()
        #expect(entries.count == 2 * (5 + 40))
        for unit in Set(entries.map(\.unit)) {
            var probe = "#include \"\(unit.rawValue)\"\n"
            for entry in entries where entry.unit == unit {
                probe += "static_assert(\(entry.name)_smem_bytes == \(entry.bytes), \"\(entry.name)\");\n"
            }
            // The probe includes the unit's source as a header.
            var sources = KernelCatalog.sources.filter { $0.key.hasSuffix(".cuh") }
            sources[unit.rawValue] = KernelCatalog.sources[unit.rawValue]
            sources["probe.cu"] = probe
            let request = CompileRequest(mainFile: "probe.cu", sources: sources, architecture: "sm_90a", options: ["-fdevice-syntax-only"])
            #expect(throws: Never.self, "\(unit.rawValue)") { _ = try NVRTCCompiler(library: try NVRTCLibrary.load()).compile(request) }
        }
    }

    /// The loader's path on a real module (no GPU): the lockstep unit compiled for bf16, its
    /// cubin's globals read as `KernelLibrary` reads them.
    @Test(.enabled(if: KernelSourceParsing.nvrtcAvailable, "needs NVRTC (FLASHMLA_NVRTC)"))
    func aCompiledKernelExportsItsSize() throws {
        let request = KernelCatalog.request(for: .decodeSM90Lockstep, architecture: "sm_90a", elementType: .bfloat16, options: [])
        let program = try NVRTCCompiler(library: try NVRTCLibrary.load()).compile(request)
        let globals = try CubinGlobals(cubin: program.cubin)
        #expect(globals["flashmla_decode_sm90_lockstep_bf16_smem_bytes"] == Int32(DecodeSharedMemory.hopperLockstep))
        #expect(globals["flashmla_decode_sm90_lockstep_fp16_smem_bytes"] == nil)   // a bf16-only build
        #expect(try KernelLibrary.sharedMemory(of: "flashmla_decode_sm90_lockstep_bf16", in: globals,
                                               expected: DecodeKernel.hopperLockstep.sharedMemoryBytes) == 232_080)
    }

    /// A kernel's export decides; the table must agree, or the load fails naming both numbers.
    @Test func theLoaderComparesTheExportWithTheTable() throws {
        let globals = CubinGlobals(values: ["k_smem_bytes": 1000, "other": 5])
        #expect(try KernelLibrary.sharedMemory(of: "k", in: globals, expected: 1000) == 1000)
        #expect(try KernelLibrary.sharedMemory(of: "plain", in: globals, expected: 0) == 0)   // no export: none
        do {
            _ = try KernelLibrary.sharedMemory(of: "k", in: globals, expected: 999)
            Issue.record("a size the table does not hold was accepted")
        } catch {
            #expect("\(error)".contains("1000") && "\(error)".contains("999") && "\(error)".contains("k_smem_bytes"))
        }
        #expect(throws: MLAError.self) { try KernelLibrary.sharedMemory(of: "plain", in: globals, expected: 64) }
    }

    /// Every decode kernel's size fits the Hopper cards' 227 KiB, but the 64-row two-stage
    /// DeepSeek FP8 tile, which the choice never picks there.
    @Test func theTableFitsTheCardsItIsFor() {
        for entry in Self.tableEntries() where !entry.name.contains("fp8ds") || !entry.name.hasSuffix("m64_s2") {
            #expect(entry.bytes <= 232_448, "\(entry.name)")
        }
        #expect(DecodeTile.choose(rowsPerKVHead: 64, sharedMemoryLimit: 232_448, cache: .fp8DeepSeek)?.stages == 1)
    }
}
