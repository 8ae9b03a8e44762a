// Tests of the driver's value types: architecture names, compute capabilities, cuda.h numbers.
import Testing
@testable import CUDADriver

@Suite("Value types and constants")
struct ValueTypeTests {
    @Test("NVRTC architecture names", arguments: [
        (9, 0, "sm_90a", "sm_90"), (10, 0, "sm_100a", "sm_100"), (8, 0, "sm_80", "sm_80"),
        (8, 6, "sm_86", "sm_86"), (8, 9, "sm_89", "sm_89"), (7, 5, "sm_75", "sm_75"),
        (10, 3, "sm_103a", "sm_103"), (12, 0, "sm_120a", "sm_120"),
    ])
    func architectures(major: Int, minor: Int, nvrtc: String, plain: String) {
        let capability = ComputeCapability(major: major, minor: minor)
        #expect(capability.nvrtcArchitecture == nvrtc)
        #expect(capability.archName == plain)
        #expect(capability.description == "\(major).\(minor)")
    }

    @Test("Compute capabilities order by major then minor")
    func ordering() {
        #expect(ComputeCapability(major: 8, minor: 9) < ComputeCapability(major: 9, minor: 0))
        #expect(ComputeCapability(major: 9, minor: 0) < ComputeCapability(major: 10, minor: 0))
        #expect(ComputeCapability(major: 8, minor: 0) < ComputeCapability(major: 8, minor: 6))
    }

    @Test("cuda.h numbers")
    func constants() {
        #expect(DeviceAttribute.multiprocessorCount.rawValue == 16)
        #expect(DeviceAttribute.computeCapabilityMajor.rawValue == 75)
        #expect(DeviceAttribute.computeCapabilityMinor.rawValue == 76)
        #expect(DeviceAttribute.maxSharedMemoryPerBlockOptin.rawValue == 97)
        #expect(DeviceAttribute.l2CacheSize.rawValue == 38)
        #expect(DeviceAttribute.maxSharedMemoryPerMultiprocessor.rawValue == 81)
        #expect(DeviceAttribute.clusterLaunch.rawValue == 120)
        #expect(FunctionAttribute.maxDynamicSharedSizeBytes.rawValue == 8)
        #expect(FunctionAttribute.numRegisters.rawValue == 4)
        #expect(FunctionAttribute.nonPortableClusterSizeAllowed.rawValue == 14)
        #expect(CUConstant.pointerAttributeDeviceOrdinal == 9)
        #expect(CUConstant.streamNonBlocking == 1)
        #expect(CUConstant.launchAttributeClusterDimension == 4)
        #expect(CUConstant.launchAttributeProgrammaticStreamSerialization == 6)
        #expect(TensorMapDataType.uint8.rawValue == 0)
        #expect(TensorMapDataType.float16.rawValue == 6)
        #expect(TensorMapDataType.float32.rawValue == 7)
        #expect(TensorMapDataType.bfloat16.rawValue == 9)
        #expect(TensorMapDataType.bfloat16.elementSize == 2)
        #expect(TensorMapSwizzle.none.rawValue == 0)
        #expect(TensorMapSwizzle.bytes32.rawValue == 1)
        #expect(TensorMapSwizzle.bytes64.rawValue == 2)
        #expect(TensorMapSwizzle.bytes128.rawValue == 3)
        #expect(TensorMapInterleave.bytes32.rawValue == 2)
        #expect(TensorMapL2Promotion.bytes256.rawValue == 3)
        #expect(TensorMapOOBFill.nanRequestZeroFMA.rawValue == 1)
    }

    @Test("Tensor map arguments are checked before the driver is asked")
    func tensorMapValidation() {
        func attempt(rank: Int = 2, address: UInt64 = 0x10000, dims: [UInt64] = [576, 64], strides: [UInt64] = [1152],
                     box: [UInt32] = [64, 64], steps: [UInt32] = [1, 1]) throws(CUDAError) {
            try TensorMap.validateTiled(rank: rank, globalAddress: address, globalDims: dims, globalStrides: strides,
                                        boxDims: box, elementStrides: steps, interleave: .none)
        }
        #expect(throws: Never.self) { try attempt() }
        #expect(throws: Never.self) { try attempt(rank: 1, dims: [64], strides: [], box: [64], steps: [1]) }
        #expect(throws: CUDAError.self) { try attempt(rank: 0, dims: [], strides: [], box: [], steps: []) }
        #expect(throws: CUDAError.self) { try attempt(rank: 6) }
        #expect(throws: CUDAError.self) { try attempt(dims: [576]) }
        #expect(throws: CUDAError.self) { try attempt(strides: []) }
        #expect(throws: CUDAError.self) { try attempt(box: [64]) }
        #expect(throws: CUDAError.self) { try attempt(steps: [1]) }
        #expect(throws: CUDAError.self) { try attempt(address: 0x10008) }
        #expect(throws: CUDAError.self) { try attempt(strides: [1000]) }
        #expect(throws: CUDAError.self) { try attempt(box: [64, 512]) }
        #expect(throws: CUDAError.self) { try attempt(box: [0, 64]) }
        #expect(throws: CUDAError.self) { try attempt(steps: [1, 9]) }
        #expect(throws: CUDAError.self) { try attempt(dims: [0, 64]) }
        // The public entry point reports the same before touching the driver.
        #expect(throws: CUDAError.invalidArgument("tensor map rank 0 is not in 1...5")) {
            _ = try TensorMap.encodeTiled(dataType: .bfloat16, rank: 0, globalAddress: 0, globalDims: [],
                                          globalStrides: [], boxDims: [], elementStrides: [])
        }
    }

    @Test("Copy ranges are checked")
    func ranges() {
        #expect(throws: Never.self) { try DeviceMemory.checkRange(offset: 0, count: 16, capacity: 16, what: "t") }
        #expect(throws: Never.self) { try DeviceMemory.checkRange(offset: 16, count: 0, capacity: 16, what: "t") }
        #expect(throws: CUDAError.self) { try DeviceMemory.checkRange(offset: 1, count: 16, capacity: 16, what: "t") }
        #expect(throws: CUDAError.self) { try DeviceMemory.checkRange(offset: -1, count: 1, capacity: 16, what: "t") }
        #expect(throws: CUDAError.self) { try DeviceMemory.checkRange(offset: 0, count: -1, capacity: 16, what: "t") }
        #expect(throws: CUDAError.self) { try DeviceMemory.checkRange(offset: Int.max, count: 2, capacity: 16, what: "t") }
    }

    @Test("Launch dimensions must be positive and fit 32 bits")
    func launchDimensions() throws {
        let dims = try LaunchDimensions(grid: (132, 2, 1), block: (128, 1, 1), sharedMemoryBytes: 200_000)
        #expect(dims.grid == (132, 2, 1))
        #expect(dims.block == (128, 1, 1))
        #expect(dims.sharedMemoryBytes == 200_000)
        #expect(throws: CUDAError.self) { _ = try LaunchDimensions(grid: (0, 1, 1), block: (1, 1, 1), sharedMemoryBytes: 0) }
        #expect(throws: CUDAError.self) { _ = try LaunchDimensions(grid: (1, 1, 1), block: (1, -1, 1), sharedMemoryBytes: 0) }
        #expect(throws: CUDAError.self) { _ = try LaunchDimensions(grid: (1 << 33, 1, 1), block: (1, 1, 1), sharedMemoryBytes: 0) }
        #expect(throws: CUDAError.self) { _ = try LaunchDimensions(grid: (1, 1, 1), block: (1, 1, 1), sharedMemoryBytes: -1) }
    }
}
