// Tests that compile through an installed NVRTC.
import Foundation
import Testing
@testable import NVRTC

/// NVRTC as the process environment finds it (for example through `FLASHMLA_NVRTC`); nil where it is absent,
/// which disables the tests below.
let installedNVRTC: NVRTCLibrary? = try? NVRTCLibrary.load()

@Suite(.enabled(if: installedNVRTC != nil, "NVRTC is not installed; set FLASHMLA_NVRTC to run these"))
struct NVRTCCompileTests {
    let compiler = NVRTCCompiler(library: installedNVRTC!)

    /// A kernel that needs a header passed by include name and a macro passed as an option.
    let request = CompileRequest(
        mainFile: "scale.cu",
        sources: [
            "scale.cu": """
                #include "common/scale.cuh"
                #ifndef SCALE
                #error SCALE must be defined
                #endif
                extern "C" __global__ void scale_kernel(float* out, const float* in, int n) {
                    __shared__ float tile[256];
                    int i = blockIdx.x * blockDim.x + threadIdx.x;
                    tile[threadIdx.x] = i < n ? in[i] : 0.0f;
                    __syncthreads();
                    if (i < n) out[i] = flashmla_test::scaled(tile[255 - threadIdx.x], SCALE);
                }
                """,
            "common/scale.cuh": """
                #pragma once
                namespace flashmla_test {
                __device__ inline float scaled(float x, float s) { return x * s; }
                }
                """,
        ],
        architecture: "sm_80",
        options: ["-DSCALE=3.0f"])

    @Test func libraryIdentity() {
        let library = installedNVRTC!
        #expect(library.version.major >= 12)
        #expect(library.path.hasPrefix("/"))
        #expect(compiler.identity.hasPrefix("nvrtc \(library.version.major).\(library.version.minor)"))
        #expect(library.errorString(6) == "NVRTC_ERROR_COMPILATION")
    }

    @Test(arguments: ["sm_80", "sm_90a"])
    func compilesToCubin(architecture: String) throws {
        var request = self.request
        request.architecture = architecture
        let program = try compiler.compile(request)
        #expect(program.cubin.count > 64)
        #expect(Array(program.cubin.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "an ELF image")
        #expect(program.log.contains("Compiling entry function 'scale_kernel' for '\(architecture)'"))
        let kernel = try #require(program.report.kernel(named: "scale_kernel"))
        #expect(kernel.registers > 0)
        #expect(kernel.sharedMemoryBytes == 1024)
        #expect(kernel.barriers == 1)
        #expect(!program.report.hasSpills)
    }

    @Test func missingOptionReachesThePreprocessor() {
        var request = self.request
        request.options = []
        #expect {
            try compiler.compile(request)
        } throws: { error in
            guard case .compilation(let log) = error as? NVRTCError else { return false }
            return log.contains("SCALE must be defined")
        }
    }

    @Test func syntaxErrorThrowsCompilationWithLog() {
        let broken = CompileRequest(
            mainFile: "broken.cu",
            sources: ["broken.cu": "extern \"C\" __global__ void broken(float* p) { p[0] = 1.0f }\n"],
            architecture: "sm_80")
        #expect {
            try compiler.compile(broken)
        } throws: { error in
            guard case .compilation(let log) = error as? NVRTCError else { return false }
            return log.contains("broken.cu(1): error") && log.contains("expected a \";\"")
        }
    }

    @Test func missingMainFileIsReported() {
        let request = CompileRequest(mainFile: "absent.cu", sources: ["other.cu": ""], architecture: "sm_80")
        #expect {
            try compiler.compile(request)
        } throws: { error in
            guard case .compilation(let log) = error as? NVRTCError else { return false }
            return log.contains("absent.cu")
        }
    }

    @Test func registerLimitCausesSpills() throws {
        let spilling = CompileRequest(
            mainFile: "spill.cu",
            sources: ["spill.cu": """
                template <int N> __global__ void spill_kernel(float* out, const float* in) {
                    float acc[N];
                    #pragma unroll
                    for (int j = 0; j < N; ++j) acc[j] = in[threadIdx.x * N + j];
                    for (int k = 0; k < 4; ++k) {
                        #pragma unroll
                        for (int j = 0; j < N; ++j) acc[j] = acc[j] * acc[(j * 7 + k) % N] + 1.0f;
                    }
                    float s = 0;
                    #pragma unroll
                    for (int j = 0; j < N; ++j) s += acc[j];
                    out[threadIdx.x] = s;
                }
                template __global__ void spill_kernel<128>(float*, const float*);
                """],
            architecture: "sm_90a",
            options: ["-maxrregcount=32"])
        let program = try compiler.compile(spilling)
        #expect(program.report.hasSpills)
        let kernel = try #require(program.report.kernels.first)
        #expect(kernel.name.contains("spill_kernel"))
        #expect(kernel.registers <= 32)
        #expect(kernel.spillStoreBytes > 0)
    }

    @Test func concurrentCompiles() throws {
        // Separate programs compiled from several threads at once, as the cache allows.
        let results = LockedList<(Int, Result<CompiledProgram, NVRTCError>)>()
        DispatchQueue.concurrentPerform(iterations: 6) { index in
            var request = self.request
            request.options = ["-DSCALE=\(index).0f"]
            request.architecture = index.isMultiple(of: 2) ? "sm_80" : "sm_90a"
            results.append((index, Result { () throws(NVRTCError) -> CompiledProgram in
                try compiler.compile(request)
            }))
        }
        #expect(results.values.count == 6)
        for (index, result) in results.values {
            let program = try result.get()
            #expect(program.log.contains(index.isMultiple(of: 2) ? "'sm_80'" : "'sm_90a'"))
            #expect(program.report.kernel(named: "scale_kernel") != nil)
        }
    }

    @Test func cachedCompile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url, packageVersion: "test")
        let first = try cache.program(for: request, compiler: compiler)
        let second = try cache.program(for: request, compiler: compiler)
        #expect(!first.cacheHit)
        #expect(second.cacheHit)
        #expect(second.program == first.program)
    }
}
