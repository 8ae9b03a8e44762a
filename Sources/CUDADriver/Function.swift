// Function: a loaded kernel, its attributes and launch dimensions.
/// A kernel attribute (`CUfunction_attribute` values from cuda.h).
public enum FunctionAttribute: Int32, Sendable, CaseIterable {
    /// `CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK`: the most threads a block of this kernel may have.
    case maxThreadsPerBlock = 0
    /// `CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES`: static shared memory, bytes.
    case sharedSizeBytes = 1
    /// `CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES`: constant memory, bytes.
    case constSizeBytes = 2
    /// `CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES`: local memory per thread, bytes (spills show here).
    case localSizeBytes = 3
    /// `CU_FUNC_ATTRIBUTE_NUM_REGS`: registers per thread.
    case numRegisters = 4
    /// `CU_FUNC_ATTRIBUTE_PTX_VERSION`: PTX ISA version × 10.
    case ptxVersion = 5
    /// `CU_FUNC_ATTRIBUTE_BINARY_VERSION`: binary architecture × 10.
    case binaryVersion = 6
    /// `CU_FUNC_ATTRIBUTE_CACHE_MODE_CA`.
    case cacheModeCA = 7
    /// `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`: dynamic shared memory the kernel may use.
    case maxDynamicSharedSizeBytes = 8
    /// `CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT`: percent of L1/shared given to shared.
    case preferredSharedMemoryCarveout = 9
    /// `CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET`.
    case clusterSizeMustBeSet = 10
    /// `CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH`.
    case requiredClusterWidth = 11
    /// `CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT`.
    case requiredClusterHeight = 12
    /// `CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH`.
    case requiredClusterDepth = 13
    /// `CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED`.
    case nonPortableClusterSizeAllowed = 14
    /// `CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE`.
    case clusterSchedulingPolicyPreference = 15
}

/// A kernel in a loaded `Module` (which it keeps alive).
public struct Function: @unchecked Sendable {
    /// The `CUfunction` handle.
    public let handle: OpaquePointer
    /// The name it was looked up by.
    public let name: String
    /// The module that holds it.
    public let module: Module

    /// The device the kernel runs on.
    public var device: Device { module.device }

    /// Allows the kernel up to `bytes` of dynamic shared memory (needed above 48 KiB):
    /// `cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)`.
    public func setMaxDynamicSharedMemory(_ bytes: Int) throws(CUDAError) {
        try setAttribute(.maxDynamicSharedSizeBytes, to: bytes)
    }

    /// Sets a settable attribute (`cuFuncSetAttribute`).
    public func setAttribute(_ attribute: FunctionAttribute, to value: Int) throws(CUDAError) {
        guard let value32 = Int32(exactly: value) else {
            throw .invalidArgument("attribute value \(value) does not fit in 32 bits")
        }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuFuncSetAttribute) { $0(handle, attribute.rawValue, value32) }
    }

    /// Reads an attribute (`cuFuncGetAttribute`).
    public func attribute(_ attribute: FunctionAttribute) throws(CUDAError) -> Int {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var value: Int32 = 0
        try driver.call(driver.symbols.cuFuncGetAttribute) { $0(&value, attribute.rawValue, handle) }
        return Int(value)
    }

    /// Registers per thread (`CU_FUNC_ATTRIBUTE_NUM_REGS`).
    public var numRegisters: Int {
        get throws(CUDAError) { try attribute(.numRegisters) }
    }

    /// Launches the kernel on `stream` with `cuLaunchKernel`.
    /// - Parameters:
    ///   - grid: blocks in x, y, z (each ≥ 1).
    ///   - block: threads per block in x, y, z (each ≥ 1).
    ///   - sharedMemoryBytes: dynamic shared memory per block.
    ///   - stream: a stream of the kernel's device.
    ///   - arguments: the kernel's parameters, in order; read during the call only.
    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), sharedMemoryBytes: Int = 0,
                       stream: Stream, arguments: inout KernelArguments) throws(CUDAError) {
        let dims = try LaunchDimensions(grid: grid, block: block, sharedMemoryBytes: sharedMemoryBytes)
        try checkStream(stream)
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        let launch = try driver.symbols.cuLaunchKernel.get()
        let handle = self.handle
        let status = arguments.withParameterPointers { parameters in
            launch(handle,
                   dims.grid.0, dims.grid.1, dims.grid.2,
                   dims.block.0, dims.block.1, dims.block.2,
                   dims.sharedMemoryBytes, stream.handle, parameters, nil)
        }
        if status != CUConstant.success {
            throw driver.error(code: status, function: driver.symbols.cuLaunchKernel.name)
        }
    }

    /// Launches the kernel on `stream` with `cuLaunchKernelEx`, optionally as thread-block clusters
    /// (`CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION`; each grid dimension must be a multiple of the
    /// cluster's) and with programmatic dependent launch
    /// (`CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`), which lets the kernel start
    /// while the previous kernel on the stream finishes (it must then wait with
    /// `griddepcontrol.wait` / `cudaGridDependencySynchronize()`).
    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), clusterDims: (Int, Int, Int)?,
                       programmaticStreamSerialization: Bool = false, sharedMemoryBytes: Int = 0,
                       stream: Stream, arguments: inout KernelArguments) throws(CUDAError) {
        let dims = try LaunchDimensions(grid: grid, block: block, sharedMemoryBytes: sharedMemoryBytes)
        try checkStream(stream)
        var attributes: [CULaunchAttributeMirror] = []
        if let clusterDims {
            let cluster = try LaunchDimensions.unsigned(clusterDims, what: "cluster")
            guard dims.grid.0 % cluster.0 == 0, dims.grid.1 % cluster.1 == 0, dims.grid.2 % cluster.2 == 0 else {
                throw .invalidArgument("grid \(grid) is not a multiple of cluster \(clusterDims)")
            }
            attributes.append(.clusterDimension(x: cluster.0, y: cluster.1, z: cluster.2))
        }
        if programmaticStreamSerialization {
            attributes.append(.programmaticStreamSerialization(true))
        }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        let launch = try driver.symbols.cuLaunchKernelEx.get()
        let handle = self.handle
        let status = attributes.withUnsafeMutableBufferPointer { attributeBuffer in
            var config = CULaunchConfigMirror(
                gridDimX: dims.grid.0, gridDimY: dims.grid.1, gridDimZ: dims.grid.2,
                blockDimX: dims.block.0, blockDimY: dims.block.1, blockDimZ: dims.block.2,
                sharedMemBytes: dims.sharedMemoryBytes,
                hStream: stream.handle,
                attrs: attributeBuffer.isEmpty ? nil : UnsafeMutableRawPointer(attributeBuffer.baseAddress),
                numAttrs: UInt32(attributeBuffer.count))
            return withUnsafePointer(to: &config) { configPointer in
                arguments.withParameterPointers { parameters in
                    launch(UnsafeRawPointer(configPointer), handle, parameters, nil)
                }
            }
        }
        if status != CUConstant.success {
            throw driver.error(code: status, function: driver.symbols.cuLaunchKernelEx.name)
        }
    }

    private func checkStream(_ stream: Stream) throws(CUDAError) {
        guard stream.device.ordinal == device.ordinal else {
            throw .invalidArgument("kernel \(name) lives on device \(device.ordinal) but the stream is on device \(stream.device.ordinal)")
        }
    }
}

/// Launch geometry checked and narrowed to the driver's 32-bit fields.
struct LaunchDimensions {
    let grid: (UInt32, UInt32, UInt32)
    let block: (UInt32, UInt32, UInt32)
    let sharedMemoryBytes: UInt32

    init(grid: (Int, Int, Int), block: (Int, Int, Int), sharedMemoryBytes: Int) throws(CUDAError) {
        self.grid = try Self.unsigned(grid, what: "grid")
        self.block = try Self.unsigned(block, what: "block")
        guard let shared = UInt32(exactly: sharedMemoryBytes) else {
            throw .invalidArgument("shared memory size \(sharedMemoryBytes) is out of range")
        }
        self.sharedMemoryBytes = shared
    }

    static func unsigned(_ dims: (Int, Int, Int), what: String) throws(CUDAError) -> (UInt32, UInt32, UInt32) {
        guard dims.0 >= 1, dims.1 >= 1, dims.2 >= 1,
              let x = UInt32(exactly: dims.0), let y = UInt32(exactly: dims.1), let z = UInt32(exactly: dims.2)
        else {
            throw .invalidArgument("\(what) dimensions \(dims) must each be in 1...\(UInt32.max)")
        }
        return (x, y, z)
    }
}
