// Module: a loaded cubin, fatbin or PTX image.
/// A loaded module (a cubin, fatbin or PTX image) in one device's primary context, unloaded on deinit.
public final class Module: @unchecked Sendable {
    /// The `CUmodule` handle.
    public let handle: OpaquePointer?
    /// The device whose primary context holds the module.
    public let device: Device

    /// Loads `image` (`cuModuleLoadData`). The bytes are read during the call only. A PTX image must
    /// end with a NUL byte; cubins need not.
    public init(device: Device, image: [UInt8]) throws(CUDAError) {
        guard !image.isEmpty else { throw .invalidArgument("empty module image") }
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var module: OpaquePointer? = nil
        try driver.call(driver.symbols.cuModuleLoadData) { load in
            image.withUnsafeBytes { load(&module, $0.baseAddress) }
        }
        self.handle = module
        self.device = device
    }

    deinit {
        guard let handle, let driver = try? CUDADriver.shared() else { return }
        try? driver.makeCurrent(device)
        try? driver.call(driver.symbols.cuModuleUnload) { $0(handle) }
    }

    /// The kernel named `name` (its mangled name unless declared `extern "C"`), `cuModuleGetFunction`.
    /// The returned value keeps this module loaded.
    public func function(named name: String) throws(CUDAError) -> Function {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var function: OpaquePointer? = nil
        try driver.call(driver.symbols.cuModuleGetFunction) { get in
            name.withCString { get(&function, handle, $0) }
        }
        guard let function else {
            throw .invalidArgument("cuModuleGetFunction returned no handle for \(name)")
        }
        return Function(handle: function, name: name, module: self)
    }

    /// The device address and size in bytes of the module's global variable `name` (its mangled
    /// name unless declared `extern "C"`), `cuModuleGetGlobal`. The address stays valid while
    /// this module is loaded.
    public func global(named name: String) throws(CUDAError) -> (address: UInt64, byteCount: Int) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        var address: CUdeviceptr = 0
        var byteCount = 0
        try driver.call(driver.symbols.cuModuleGetGlobal) { get in
            name.withCString { get(&address, &byteCount, handle, $0) }
        }
        guard address != 0 else {
            throw .invalidArgument("cuModuleGetGlobal returned no address for \(name)")
        }
        return (address, byteCount)
    }
}
