// Tests of ColdStart.
import Foundation
import Testing
@testable import FlashMLA
import NVRTC

/// What a call compiles: one element type's entry points; and what runs while a slow kernel compiles.
@Suite struct ColdStartTests {
    @Test func requestsForOneElementTypeDefineOnlyItsEntryPoints() {
        for unit in KernelCatalog.Unit.allCases {
            let both = KernelCatalog.request(for: unit, architecture: "sm_90a", options: [])
            let bf16 = KernelCatalog.request(for: unit, architecture: "sm_90a", elementType: .bfloat16, options: [])
            let fp16 = KernelCatalog.request(for: unit, architecture: "sm_90a", elementType: .float16, options: [])
            #expect(bf16.options == both.options + ["-DFMLA_ONLY_BF16"])
            #expect(fp16.options == both.options + ["-DFMLA_ONLY_FP16"])
            let cache = CompileCache(directory: URL(fileURLWithPath: "/nonexistent"), packageVersion: "test")
            #expect(cache.key(for: bf16, compilerIdentity: "nvrtc") != cache.key(for: fp16, compilerIdentity: "nvrtc"))
        }
    }

    /// Only the seesaw kernel has a substitute: the lockstep kernel, which takes the same
    /// arguments and runs on every device the seesaw kernel runs on.
    @Test func theSeesawKernelsSubstituteIsTheLockstepKernel() {
        #expect(DecodeKernel.hopperSeesaw.coldStartSubstitute == .hopperLockstep)
        #expect(DecodeKernel.hopperLockstep.coldStartSubstitute == nil)
        #expect(DecodeKernel.portable(DecodeTile(rows: 64, stages: 2)).coldStartSubstitute == nil)
        // Both fit the Hopper cards' 227 KiB (a launch substitutes only where the substitute fits).
        #expect(max(DecodeKernel.hopperLockstep.sharedMemoryBytes, DecodeKernel.hopperSeesaw.sharedMemoryBytes) <= 232_448)
    }

    @Test func coldStartComesFromTheEnvironmentValue() throws {
        #expect(try ColdStart(environment: nil) == .substitute)
        #expect(try ColdStart(environment: "") == .substitute)
        #expect(try ColdStart(environment: "wait") == .wait)
        #expect(try ColdStart(environment: "substitute") == .substitute)
        #expect(throws: MLAError.self) { try ColdStart(environment: "fast") }
    }

    /// Compiled with NVRTC (where it is installed): a unit built for one element type defines that
    /// type's entry points and not the other's.
    @Test(.enabled(if: (try? NVRTCLibrary.load()) != nil, "needs NVRTC"))
    func oneElementTypeBuildsHoldOnlyItsKernels() throws {
        let compiler = NVRTCCompiler(library: try NVRTCLibrary.load())
        for (type, own, other) in [(ElementType.bfloat16, "bf16", "fp16"), (.float16, "fp16", "bf16")] {
            for (unit, prefix) in [(KernelCatalog.Unit.combine, "flashmla_combine_"),
                                   (.decodeSM90Lockstep, "flashmla_decode_sm90_lockstep_")] {
                let program = try compiler.compile(KernelCatalog.request(for: unit, architecture: "sm_90a", elementType: type, options: []))
                let names = Set(program.report.kernels.map(\.name))
                #expect(names.contains(prefix + own))
                #expect(!names.contains(prefix + other))
            }
        }
    }
}
