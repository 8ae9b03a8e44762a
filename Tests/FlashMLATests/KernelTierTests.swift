import Foundation
import Testing
@testable import FlashMLA
import NVRTC

/// What a call compiles: one element type's entry points, and the seesaw kernel's quick tier.
@Suite struct KernelTierTests {
    @Test func requestsForOneElementTypeDefineOnlyItsEntryPoints() {
        for unit in KernelCatalog.Unit.allCases {
            let both = KernelCatalog.request(for: unit, architecture: "sm_90a", options: [])
            let bf16 = KernelCatalog.request(for: unit, architecture: "sm_90a", elementType: .bfloat16, options: [])
            let fp16 = KernelCatalog.request(for: unit, architecture: "sm_90a", elementType: .float16, options: [])
            #expect(bf16.options == both.options + ["-DFMLA_ONLY_BF16"])
            #expect(fp16.options == both.options + ["-DFMLA_ONLY_FP16"])
        }
    }

    @Test func onlyTheSeesawKernelHasAQuickTier() {
        for unit in KernelCatalog.Unit.allCases {
            let optimized = KernelCatalog.request(for: unit, architecture: "sm_90a", tier: .optimized, options: [])
            let quick = KernelCatalog.request(for: unit, architecture: "sm_90a", tier: .quick, options: [])
            if unit == .decodeSM90Seesaw {
                #expect(unit.quickTierOptions == ["-Ofc=mid"])
                #expect(quick.options == optimized.options + ["-Ofc=mid"])
                let cache = CompileCache(directory: URL(fileURLWithPath: "/nonexistent"), packageVersion: "test")
                #expect(cache.key(for: quick, compilerIdentity: "nvrtc") != cache.key(for: optimized, compilerIdentity: "nvrtc"))
            } else {
                #expect(unit.quickTierOptions == nil)
                #expect(quick == optimized)
            }
        }
    }

    @Test func compileTieringComesFromTheEnvironmentValue() throws {
        #expect(try CompileTiering(environment: nil) == .tiered)
        #expect(try CompileTiering(environment: "") == .tiered)
        #expect(try CompileTiering(environment: "optimized") == .optimized)
        #expect(try CompileTiering(environment: "quick") == .quick)
        #expect(throws: MLAError.self) { try CompileTiering(environment: "fast") }
    }

    /// Compiled with NVRTC (where it is installed): a unit built for one element type defines that
    /// type's entry points and not the other's; the quick tier of the seesaw kernel compiles.
    @Test(.enabled(if: (try? NVRTCLibrary.load()) != nil, "needs NVRTC"))
    func oneElementTypeBuildsHoldOnlyItsKernels() throws {
        let compiler = NVRTCCompiler(library: try NVRTCLibrary.load())
        for (type, own, other) in [(ElementType.bfloat16, "bf16", "fp16"), (.float16, "fp16", "bf16")] {
            let program = try compiler.compile(KernelCatalog.request(for: .combine, architecture: "sm_80", elementType: type, options: []))
            let names = Set(program.report.kernels.map(\.name))
            #expect(names.contains("flashmla_combine_\(own)"))
            #expect(!names.contains("flashmla_combine_\(other)"))
        }
        let quick = try compiler.compile(KernelCatalog.request(for: .decodeSM90Seesaw, architecture: "sm_90a",
                                                               elementType: .bfloat16, tier: .quick, options: []))
        #expect(quick.report.kernels.map(\.name).contains("flashmla_decode_sm90_seesaw_bf16"))
        #expect(!quick.report.kernels.map(\.name).contains("flashmla_decode_sm90_seesaw_fp16"))
    }
}
