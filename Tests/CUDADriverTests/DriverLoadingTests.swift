// Tests of loading the driver and resolving its symbols.
import Testing
@testable import CUDADriver

@Suite("Loading the driver library")
struct DriverLoadingTests {
    @Test("A library that is not there gives .libraryNotFound listing what was tried")
    func missingLibrary() {
        let names = ["libcuda-swift-flash-mla-missing.so.1", "libcuda-swift-flash-mla-missing.so"]
        let outcome = CUDADriver.load(candidates: names)
        guard case let .failure(error) = outcome else {
            Issue.record("loading a nonexistent library succeeded")
            return
        }
        guard case let .libraryNotFound(tried, reason) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(tried == names)
        #expect(!reason.isEmpty)
        #expect(error.description.contains("libcuda-swift-flash-mla-missing.so.1"))
        #expect(error.description.contains("libcuda-swift-flash-mla-missing.so,") ||
                error.description.contains("libcuda-swift-flash-mla-missing.so)"))
    }

    @Test("Without a driver, shared() throws .libraryNotFound naming libcuda.so.1 and libcuda.so, every time",
          .enabled(if: !TestEnvironment.driverLibraryPresent))
    func sharedWithoutDriver() {
        for _ in 0..<2 {
            do {
                _ = try CUDADriver.shared()
                Issue.record("shared() succeeded without a driver library")
            } catch {
                guard case let .libraryNotFound(tried, _) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(tried == ["libcuda.so.1", "libcuda.so"])
                #expect(error.description.contains("libcuda.so.1"))
                #expect(error.description.contains("libcuda.so"))
            }
        }
        #expect(!CUDADriver.isAvailable)
    }

    @Test("Without a driver, the public entry points throw instead of crashing",
          .enabled(if: !TestEnvironment.driverLibraryPresent))
    func entryPointsWithoutDriver() {
        #expect(throws: CUDAError.self) { _ = try Device.all() }
        #expect(throws: CUDAError.self) { _ = try Device(ordinal: 0) }
        #expect(throws: CUDAError.self) { _ = try Device.owning(address: 0x1000) }
        #expect(throws: CUDAError.self) {
            _ = try TensorMap.encodeTiled(dataType: .bfloat16, rank: 2, globalAddress: 0x1000,
                                          globalDims: [64, 64], globalStrides: [128],
                                          boxDims: [64, 64], elementStrides: [1, 1])
        }
    }

    @Test("With a driver, shared() loads once and reports a version and path",
          .enabled(if: TestEnvironment.gpuAvailable))
    func sharedWithDriver() throws {
        let first = try CUDADriver.shared()
        let second = try CUDADriver.shared()
        #expect(first === second)
        #expect(first.version >= 11000)
        #expect(first.libraryPath.contains("libcuda"))
        #expect(try first.deviceCount() > 0)
    }
}

@Suite("The symbol table")
struct SymbolTableTests {
    @Test("A missing entry point fails only the call that needs it, as .missingSymbol")
    func missingSymbolFailsOnlyItsCall() throws {
        let driver = FakeDriver.driver(["cuDeviceGetCount": FakeDriver.pointer(FakeDriver.deviceGetCount)])
        #expect(try driver.deviceCount() == 3)
        var pointer: UInt64 = 0
        #expect(throws: CUDAError.missingSymbol("cuMemAlloc_v2")) {
            try driver.call(driver.symbols.cuMemAlloc) { $0(&pointer, 16) }
        }
    }

    @Test("Versioned names are what gets looked up")
    func versionedNames() {
        var asked: [String] = []
        _ = DriverSymbols { name in
            asked.append(name)
            return nil
        }
        for name in ["cuMemAlloc_v2", "cuMemFree_v2", "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRelease_v2",
                     "cuStreamDestroy_v2", "cuEventDestroy_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2",
                     "cuMemcpyDtoD_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
                     "cuMemsetD8_v2", "cuMemsetD8Async", "cuMemsetD32Async", "cuLaunchKernelEx",
                     "cuTensorMapEncodeTiled", "cuPointerGetAttribute", "cuStreamGetCtx", "cuCtxGetDevice"] {
            #expect(asked.contains(name), "never asked for \(name)")
        }
        #expect(!asked.contains("cuMemAlloc"))
        #expect(!asked.contains("cuMemFree"))
    }

    @Test("cuEventElapsedTime_v2 is preferred, with cuEventElapsedTime as the fallback")
    func elapsedTimeFallback() {
        let dummy = FakeDriver.pointer(FakeDriver.deviceGetCount)
        let onlyOld = DriverSymbols(resolve: FakeDriver.resolver(["cuEventElapsedTime": dummy]))
        #expect(onlyOld.cuEventElapsedTime.name == "cuEventElapsedTime")
        #expect(onlyOld.cuEventElapsedTime.pointer != nil)
        let both = DriverSymbols(resolve: FakeDriver.resolver(["cuEventElapsedTime": dummy, "cuEventElapsedTime_v2": dummy]))
        #expect(both.cuEventElapsedTime.name == "cuEventElapsedTime_v2")
        let neither = DriverSymbols(resolve: FakeDriver.resolver([:]))
        #expect(neither.cuEventElapsedTime.pointer == nil)
        #expect(throws: CUDAError.missingSymbol("cuEventElapsedTime_v2")) { _ = try neither.cuEventElapsedTime.get() }
    }

    @Test("A failing call becomes .call with the driver's error name and text")
    func failingCallIsNamed() {
        let driver = FakeDriver.driver([
            "cuMemAlloc_v2": FakeDriver.pointer(FakeDriver.memAllocOutOfMemory),
            "cuGetErrorName": FakeDriver.pointer(FakeDriver.getErrorName),
            "cuGetErrorString": FakeDriver.pointer(FakeDriver.getErrorString),
        ])
        var pointer: UInt64 = 0
        do {
            try driver.call(driver.symbols.cuMemAlloc) { $0(&pointer, 1 << 40) }
            Issue.record("the fake allocation did not fail")
        } catch {
            #expect(error == .call(function: "cuMemAlloc_v2", code: 2, name: "CUDA_ERROR_OUT_OF_MEMORY", message: "out of memory"))
            #expect(error.description == "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory")
            #expect(error.resultCode == 2)
        }
    }

    @Test("A succeeding call passes its results through")
    func succeedingCall() throws {
        let driver = FakeDriver.driver(["cuMemAlloc_v2": FakeDriver.pointer(FakeDriver.memAllocSucceeds)])
        var pointer: UInt64 = 0
        try driver.call(driver.symbols.cuMemAlloc) { $0(&pointer, 256) }
        #expect(pointer == 0x7f00_0000_0100)
    }

    @Test("Without cuGetErrorName the built-in names are used")
    func fallbackNames() {
        let driver = FakeDriver.driver([:])
        let error = driver.error(code: 700, function: "cuStreamSynchronize")
        #expect(error.description == "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (700): an illegal memory access was encountered")
        let unknown = driver.error(code: 12345, function: "cuLaunchKernel")
        #expect(unknown.description.hasPrefix("cuLaunchKernel failed: CUDA_ERROR_12345 (12345)"))
    }
}
