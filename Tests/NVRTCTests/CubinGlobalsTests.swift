// Tests of CubinGlobals: a cubin's initialized 32-bit globals, read from its ELF image.
import Testing
@testable import NVRTC

@Suite struct CubinGlobalsTests {
    /// Through NVRTC: the exported constants of a compiled program, and nothing else.
    @Test(.enabled(if: installedNVRTC != nil, "NVRTC is not installed; set FLASHMLA_NVRTC to run this"),
          arguments: ["sm_80", "sm_90a"])
    func readsACompiledProgramsGlobals(architecture: String) throws {
        let source = """
            struct Storage { unsigned char a[1000]; float b[6]; };
            extern "C" __device__ const int first_smem_bytes = sizeof(Storage);
            extern "C" __device__ const int second = -7;
            extern "C" __device__ long long wide = 5;
            extern "C" __device__ int uninitialized;
            extern "C" __global__ void kernel(int* out) { out[threadIdx.x] = uninitialized + (int)wide; }
            """
        let request = CompileRequest(mainFile: "globals.cu", sources: ["globals.cu": source], architecture: architecture)
        let program = try NVRTCCompiler(library: installedNVRTC!).compile(request)
        let globals = try CubinGlobals(cubin: program.cubin)
        #expect(globals["first_smem_bytes"] == 1024)
        #expect(globals["second"] == -7)
        #expect(globals["wide"] == nil && globals["uninitialized"] == nil && globals["kernel"] == nil)
    }

    @Test func refusesWhatIsNotACubin() {
        #expect(throws: NVRTCError.malformedCubin("not an ELF image")) { try CubinGlobals(cubin: Array(repeating: 0, count: 100)) }
        var elf32 = [UInt8](repeating: 0, count: 100)
        elf32[0 ... 5] = [0x7F, 0x45, 0x4C, 0x46, 1, 1]
        #expect(throws: NVRTCError.malformedCubin("not a 64-bit little-endian ELF image")) { try CubinGlobals(cubin: elf32) }
        // A 64-bit header whose section table lies past the end of the image.
        var truncated = [UInt8](repeating: 0, count: 64)
        truncated[0 ... 5] = [0x7F, 0x45, 0x4C, 0x46, 2, 1]
        truncated[0x28] = 0xFF; truncated[0x3A] = 64; truncated[0x3C] = 1
        #expect(throws: NVRTCError.self) { try CubinGlobals(cubin: truncated) }
    }
}
