// Device: a CUDA device, its compute capability and attributes.
/// A compute capability, `major.minor` (9.0 for Hopper H100/H200, 10.0 for B200, 8.0 for A100).
public struct ComputeCapability: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The major version.
    public var major: Int
    /// The minor version.
    public var minor: Int

    /// A capability from its two parts.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The generic architecture name, `sm_<major><minor>` (e.g. `sm_90`, `sm_80`).
    public var archName: String { "sm_\(major)\(minor)" }

    /// The architecture to hand NVRTC (`--gpu-architecture=`): the architecture-specific
    /// `sm_<major><minor>a` variant for 9.0 and for 10.0 and newer (needed for wgmma, setmaxnreg,
    /// tcgen05 and other features that only exist on that exact architecture), otherwise
    /// `sm_<major><minor>`. So 9.0 gives `sm_90a`, 10.0 gives `sm_100a`, 8.6 gives `sm_86`.
    public var nvrtcArchitecture: String {
        if (major == 9 && minor == 0) || major >= 10 {
            return "sm_\(major)\(minor)a"
        }
        return archName
    }

    /// `major.minor`.
    public var description: String { "\(major).\(minor)" }

    /// Orders by major, then minor.
    public static func < (lhs: ComputeCapability, rhs: ComputeCapability) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}

/// A device attribute the driver can report (`CUdevice_attribute` values from cuda.h).
public enum DeviceAttribute: Int32, Sendable, CaseIterable {
    /// `CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK`.
    case maxThreadsPerBlock = 1
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK` (without opt-in).
    case maxSharedMemoryPerBlock = 8
    /// `CU_DEVICE_ATTRIBUTE_WARP_SIZE`.
    case warpSize = 10
    /// `CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT`.
    case multiprocessorCount = 16
    /// `CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE`, bytes.
    case l2CacheSize = 38
    /// `CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR`.
    case maxThreadsPerMultiprocessor = 39
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`.
    case computeCapabilityMajor = 75
    /// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`.
    case computeCapabilityMinor = 76
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR`, bytes.
    case maxSharedMemoryPerMultiprocessor = 81
    /// `CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN`, bytes.
    case maxSharedMemoryPerBlockOptin = 97
    /// `CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH` (1 when thread-block clusters are supported).
    case clusterLaunch = 120
}

/// A CUDA device and the properties the kernels need, read once when the value is made.
///
/// Querying a device does not create a context; the device's primary context is retained the
/// first time something is allocated or launched on it (see `makeCurrent()`).
public struct Device: Sendable, Equatable, CustomStringConvertible {
    /// The device ordinal (0-based, as in `CUDA_VISIBLE_DEVICES` order).
    public let ordinal: Int
    /// The driver's `CUdevice` handle.
    let handle: CUdevice
    /// The marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    public let name: String
    /// The compute capability.
    public let computeCapability: ComputeCapability
    /// Streaming multiprocessors on the device.
    public let multiprocessorCount: Int
    /// The most dynamic shared memory a block may opt into, bytes.
    public let maxSharedMemoryPerBlockOptin: Int
    /// L2 cache size, bytes.
    public let l2CacheSize: Int
    /// Device memory, bytes.
    public let totalMemory: Int

    /// Reads device `ordinal`'s properties. Throws `.invalidArgument` when there is no such device.
    public init(ordinal: Int) throws(CUDAError) {
        let driver = try CUDADriver.shared()
        let count = try driver.deviceCount()
        guard ordinal >= 0, ordinal < count, let ordinal32 = Int32(exactly: ordinal) else {
            throw .invalidArgument("device ordinal \(ordinal) is out of range (\(count) device(s))")
        }
        var device: CUdevice = 0
        try driver.call(driver.symbols.cuDeviceGet) { $0(&device, ordinal32) }

        var nameBuffer = [CChar](repeating: 0, count: 256)
        let bufferCount = Int32(nameBuffer.count)
        try driver.call(driver.symbols.cuDeviceGetName) { function in
            nameBuffer.withUnsafeMutableBufferPointer { function($0.baseAddress, bufferCount - 1, device) }
        }
        nameBuffer[nameBuffer.count - 1] = 0
        let name = nameBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }

        var bytes = 0
        try driver.call(driver.symbols.cuDeviceTotalMem) { $0(&bytes, device) }

        func read(_ attribute: DeviceAttribute) throws(CUDAError) -> Int {
            try Self.attribute(attribute, of: device, driver: driver)
        }
        self.ordinal = ordinal
        self.handle = device
        self.name = name
        self.computeCapability = ComputeCapability(
            major: try read(.computeCapabilityMajor),
            minor: try read(.computeCapabilityMinor))
        self.multiprocessorCount = try read(.multiprocessorCount)
        self.maxSharedMemoryPerBlockOptin = try read(.maxSharedMemoryPerBlockOptin)
        self.l2CacheSize = try read(.l2CacheSize)
        self.totalMemory = bytes
    }

    /// Every visible device, in ordinal order (empty when the driver reports none).
    public static func all() throws(CUDAError) -> [Device] {
        let count = try CUDADriver.shared().deviceCount()
        var devices: [Device] = []
        devices.reserveCapacity(count)
        for ordinal in 0..<count {
            devices.append(try Device(ordinal: ordinal))
        }
        return devices
    }

    /// The ordinal of the device that owns the device address `address`
    /// (`cuPointerGetAttribute(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)`); works for memory allocated by
    /// anyone in the process (this library, PyTorch, ...). Throws `.call` for a non-device address.
    public static func owning(address: UInt64) throws(CUDAError) -> Int {
        let driver = try CUDADriver.shared()
        try driver.ensureSomeContextCurrent()
        var ordinal: Int32 = -1
        try driver.call(driver.symbols.cuPointerGetAttribute) {
            $0(&ordinal, CUConstant.pointerAttributeDeviceOrdinal, address)
        }
        return Int(ordinal)
    }

    /// Reads any `DeviceAttribute` of this device (`cuDeviceGetAttribute`).
    public func attribute(_ attribute: DeviceAttribute) throws(CUDAError) -> Int {
        try Self.attribute(attribute, of: handle, driver: CUDADriver.shared())
    }

    private static func attribute(_ attribute: DeviceAttribute, of device: CUdevice, driver: CUDADriver) throws(CUDAError) -> Int {
        var value: Int32 = 0
        try driver.call(driver.symbols.cuDeviceGetAttribute) { $0(&value, attribute.rawValue, device) }
        return Int(value)
    }

    /// The architecture to compile for with NVRTC (`sm_90a` on 9.0, `sm_100a` on 10.0, else `sm_XY`).
    public var nvrtcArchitecture: String { computeCapability.nvrtcArchitecture }

    /// Retains (once) this device's primary context and makes it current on the calling thread.
    /// Every operation in this module does this itself; call it before handing the thread to code
    /// that uses the current context implicitly.
    public func makeCurrent() throws(CUDAError) {
        try CUDADriver.shared().makeCurrent(ordinal: ordinal)
    }

    /// Waits for all work on this device's primary context to finish (`cuCtxSynchronize`).
    public func synchronize() throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(ordinal: ordinal)
        try driver.call(driver.symbols.cuCtxSynchronize) { $0() }
    }

    /// `#<ordinal> <name> (sm_XY, N SMs)`.
    public var description: String {
        "#\(ordinal) \(name) (\(computeCapability.archName), \(multiprocessorCount) SMs)"
    }
}

extension CUDADriver {
    /// Makes `device`'s primary context current on the calling thread.
    func makeCurrent(_ device: Device) throws(CUDAError) {
        try makeCurrent(ordinal: device.ordinal)
    }
}
