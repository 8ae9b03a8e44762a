// Support for the driver tests: the environment and a fake driver.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import CUDADriver

/// Facts about the machine the tests run on, computed once.
enum TestEnvironment {
    /// Whether `dlopen` finds any CUDA driver library at all (regardless of devices).
    static let driverLibraryPresent: Bool = {
        for name in CUDADriver.libraryCandidates {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                dlclose(handle)
                return true
            }
        }
        return false
    }()

    /// Whether a usable driver with at least one device is present; GPU tests run only then.
    static let gpuAvailable: Bool = {
        guard let driver = try? CUDADriver.shared(), let count = try? driver.deviceCount() else { return false }
        return count > 0
    }()

    /// Device 0, for GPU tests (only called when `gpuAvailable`).
    static func firstDevice() throws -> Device {
        try Device(ordinal: 0)
    }
}

/// A fake driver library assembled from C-convention Swift closures, so that symbol resolution,
/// error naming and the `.call` path can be tested without CUDA.
enum FakeDriver {
    static let outOfMemoryName: StaticString = "CUDA_ERROR_OUT_OF_MEMORY"
    static let outOfMemoryText: StaticString = "out of memory"

    static func cString(_ text: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    static let getErrorName: PFNGetErrorText = { code, result in
        guard code == 2 else { return 1 }
        result?.pointee = FakeDriver.cString(FakeDriver.outOfMemoryName)
        return 0
    }
    static let getErrorString: PFNGetErrorText = { code, result in
        guard code == 2 else { return 1 }
        result?.pointee = FakeDriver.cString(FakeDriver.outOfMemoryText)
        return 0
    }
    static let memAllocOutOfMemory: PFNMemAlloc = { _, _ in 2 }
    static let memAllocSucceeds: PFNMemAlloc = { pointer, bytes in
        pointer?.pointee = 0x7f00_0000_0000 + UInt64(bytes)
        return 0
    }
    static let deviceGetCount: PFNDeviceGetCount = { count in
        count?.pointee = 3
        return 0
    }

    /// A resolver over `table` (name to C function pointer).
    static func resolver(_ table: [String: UnsafeMutableRawPointer]) -> (String) -> UnsafeMutableRawPointer? {
        { table[$0] }
    }

    static func pointer<F>(_ function: F) -> UnsafeMutableRawPointer {
        unsafeBitCast(function, to: UnsafeMutableRawPointer.self)
    }

    /// A driver whose library exports only the given entry points.
    static func driver(_ table: [String: UnsafeMutableRawPointer]) -> CUDADriver {
        CUDADriver(symbols: DriverSymbols(resolve: resolver(table)), library: nil,
                   libraryPath: "fake", version: 13000)
    }
}
