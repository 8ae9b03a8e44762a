import CUDADriver
import NVRTC
#if canImport(Glibc)
import Glibc
#endif

/// The compiled kernels of one device: each translation unit compiled by NVRTC for the
/// device's architecture (through the on-disk cache) and loaded once.
final class KernelLibrary: @unchecked Sendable {
    let device: Device
    let architecture: String
    private let lock = Mutex()
    private var modules: [KernelCatalog.Unit: Module] = [:]
    private var functions: [String: Function] = [:]

    init(device: Device) {
        self.device = device
        architecture = device.nvrtcArchitecture
    }

    /// The kernel `name` of `unit`, with its dynamic shared-memory limit raised to `sharedMemory`.
    func function(_ name: String, in unit: KernelCatalog.Unit, sharedMemory: Int = 0) throws(MLAError) -> Function {
        try lock.withLock { () throws(MLAError) -> Function in
            if let function = functions[name] { return function }
            let module = try module(for: unit)
            do {
                let function = try module.function(named: name)
                if sharedMemory > 48 * 1024 { try function.setMaxDynamicSharedMemory(sharedMemory) }
                functions[name] = function
                return function
            } catch {
                throw .backend("\(error)")
            }
        }
    }

    private func module(for unit: KernelCatalog.Unit) throws(MLAError) -> Module {
        if let module = modules[unit] { return module }
        let program: CompiledProgram
        do {
            let compiler = NVRTCCompiler(library: try NVRTCLibrary.load())
            let cache = CompileCache(directory: CompileCache.defaultDirectory(), packageVersion: FlashMLAVersion.string)
            // With FLASHMLA_KERNEL_OPTIONS, which are part of the cache key.
            let request = KernelCatalog.request(for: unit, architecture: architecture)
            program = try cache.program(for: request, compiler: compiler).program
        } catch {
            throw .backend("compiling \(unit.rawValue) for \(architecture): \(error)")
        }
        do {
            let module = try Module(device: device, image: program.cubin)
            modules[unit] = module
            return module
        } catch {
            throw .backend("loading \(unit.rawValue) on \(device.name): \(error)")
        }
    }
}
