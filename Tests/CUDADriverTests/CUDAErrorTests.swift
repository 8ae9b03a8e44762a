// Tests of CUDAError's descriptions.
import Testing
@testable import CUDADriver

@Suite("CUDAError")
struct CUDAErrorTests {
    @Test("Descriptions name the call and the error")
    func descriptions() {
        let call = CUDAError.call(function: "cuMemAlloc_v2", code: 2, name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory")
        #expect(call.description == "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")
        #expect("\(call)".contains("cuMemAlloc_v2"))
        #expect("\(call)".contains("CUDA_ERROR_OUT_OF_MEMORY"))

        let notFound = CUDAError.libraryNotFound(tried: ["libcuda.so.1", "libcuda.so"], reason: "libcuda.so: cannot open shared object file")
        #expect(notFound.description.contains("libcuda.so.1, libcuda.so"))
        #expect(notFound.description.contains("cannot open shared object file"))

        #expect(CUDAError.missingSymbol("cuLaunchKernelEx").description.contains("cuLaunchKernelEx"))
        #expect(CUDAError.invalidArgument("copy out of range").description.contains("copy out of range"))
    }

    @Test("Equality compares every field")
    func equality() {
        let a = CUDAError.call(function: "cuInit", code: 100, name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected")
        #expect(a == .call(function: "cuInit", code: 100, name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected"))
        #expect(a != .call(function: "cuInit", code: 101, name: "CUDA_ERROR_NO_DEVICE", message: "no CUDA-capable device is detected"))
        #expect(a.resultCode == 100)
        #expect(CUDAError.missingSymbol("x").resultCode == nil)
    }

    @Test("The fallback table knows the common codes")
    func fallbackTable() {
        #expect(CUResultNames.name(2) == "CUDA_ERROR_OUT_OF_MEMORY")
        #expect(CUResultNames.name(100) == "CUDA_ERROR_NO_DEVICE")
        #expect(CUResultNames.name(209) == "CUDA_ERROR_NO_BINARY_FOR_GPU")
        #expect(CUResultNames.name(719) == "CUDA_ERROR_LAUNCH_FAILED")
        #expect(CUResultNames.name(4242) == "CUDA_ERROR_4242")
    }
}
