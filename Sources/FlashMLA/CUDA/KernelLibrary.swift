// KernelLibrary: one device's compiled and loaded kernels; LoadedKernel; ColdStart.
import CUDADriver
import Dispatch
import NVRTC
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The compiled kernels of one device: each translation unit compiled by NVRTC for the
/// device's architecture (through the on-disk cache), with only the entry points of the element
/// type a call needs, and loaded once.
///
/// ``function(_:in:elementType:expectedSharedMemory:)`` compiles what is missing and waits for
/// it; ``readyFunction(_:in:elementType:expectedSharedMemory:)`` never waits for a compile: it
/// returns a kernel that is loaded or cached on disk, and otherwise starts its compile on a
/// background queue and returns nil, so that the caller can run a substitute meanwhile (the
/// launch's cold start, ``ColdStart``).
///
/// A kernel's dynamic shared memory comes from its module: an entry point `name` that takes
/// dynamic shared memory exports its size as `name_smem_bytes` (the decode kernels do), read from
/// the cubin's symbol table when the module is loaded (``CubinGlobals``: no driver call, so a
/// first call may load its kernel while its stream is being captured into a graph).
final class KernelLibrary: @unchecked Sendable {
    let device: Device
    let architecture: String
    /// Whether a launch may run a substitute while a slow kernel compiles (`FLASHMLA_COLD_START`).
    let coldStart: ColdStart
    /// Held while the module, function and build tables below are read or written.
    private let lock = Mutex(())
    private var modules: [ModuleKey: LoadedModule] = [:]
    private var functions: [String: LoadedKernel] = [:]
    /// Compiles running in the background, by the module they will become.
    private var builds: [ModuleKey: BackgroundBuild] = [:]
    private var toolchain: (compiler: NVRTCCompiler, cache: CompileCache)?

    /// A module: a unit compiled with the entry points of one element type (nil: all).
    struct ModuleKey: Hashable {
        var unit: KernelCatalog.Unit
        var elementType: ElementType?
    }

    /// A loaded module and the initialized 32-bit globals of its cubin.
    private struct LoadedModule {
        var module: Module
        var globals: CubinGlobals
    }

    init(device: Device, coldStart: ColdStart) {
        self.device = device
        architecture = device.nvrtcArchitecture
        self.coldStart = coldStart
    }

    /// The kernel `name` of `unit` compiled for `elementType` (all types when nil), loaded, from
    /// the disk cache, from a background compile (waited for) or compiled now, with its dynamic
    /// shared memory (``LoadedKernel``). `expectedSharedMemory`: what the host's table says the
    /// kernel takes (``DecodeSharedMemory``); a kernel whose export differs is an error.
    func function(_ name: String, in unit: KernelCatalog.Unit, elementType: ElementType?,
                  expectedSharedMemory: Int = 0) throws(MLAError) -> LoadedKernel {
        try lock.withLock { _ throws(MLAError) -> LoadedKernel in
            if let function = functions[name] { return function }
            return try loadFunction(name, from: try module(ModuleKey(unit: unit, elementType: elementType), wait: true)!,
                                    expectedSharedMemory: expectedSharedMemory)
        }
    }

    /// The kernel, as ``function(_:in:elementType:expectedSharedMemory:)`` gives it, when no
    /// compile has to be waited for; else nil, after starting the compile in the background (once).
    func readyFunction(_ name: String, in unit: KernelCatalog.Unit, elementType: ElementType?,
                       expectedSharedMemory: Int = 0) throws(MLAError) -> LoadedKernel? {
        try lock.withLock { _ throws(MLAError) -> LoadedKernel? in
            if let function = functions[name] { return function }
            guard let module = try module(ModuleKey(unit: unit, elementType: elementType), wait: false) else { return nil }
            return try loadFunction(name, from: module, expectedSharedMemory: expectedSharedMemory)
        }
    }

    /// The dynamic shared memory kernel `name` exports in `globals` (`name_smem_bytes`; none: 0),
    /// checked against `expected`, the host's table.
    static func sharedMemory(of name: String, in globals: CubinGlobals, expected: Int) throws(MLAError) -> Int {
        let symbol = name + "_smem_bytes"
        let exported = globals[symbol].map(Int.init) ?? 0
        guard exported == expected else {
            throw .backend("kernel \(name) needs \(exported) bytes of dynamic shared memory "
                + (globals[symbol] == nil ? "(it exports no \(symbol))" : "(its \(symbol))")
                + ", but the host's table (DecodeSharedMemory) says \(expected): the kernel and the table disagree")
        }
        return exported
    }

    /// Blocks until every compile running in the background has finished and is loaded (for
    /// measurements, which must time the kernels a warm process runs).
    func waitForBackgroundBuilds() throws(MLAError) {
        try lock.withLock { _ throws(MLAError) in
            for key in Array(builds.keys) { _ = try module(key, wait: true) }
        }
    }

    // MARK: Under the lock

    /// The module `key`: loaded already, finished in the background, in the disk cache, or (when
    /// `wait`) awaited or compiled now; nil when it is being compiled, after starting a background
    /// compile if none was running.
    private func module(_ key: ModuleKey, wait: Bool) throws(MLAError) -> LoadedModule? {
        if let module = modules[key] { return module }
        if let build = builds[key] {
            guard wait || build.isFinished else { return nil }
            builds[key] = nil
            return try load(build.result(), key: key)
        }
        let request = KernelCatalog.request(for: key.unit, architecture: architecture, elementType: key.elementType)
        let (compiler, cache) = try tools(for: key.unit)
        if let cached = cache.cachedProgram(forKey: cache.key(for: request, compilerIdentity: compiler.identity)) {
            return try load(cached, key: key)
        }
        let architecture = self.architecture
        let compile = { @Sendable () throws(MLAError) -> CompiledProgram in
            do { return try cache.program(for: request, compiler: compiler).program } catch {
                throw .backend("compiling \(key.unit.rawValue) for \(architecture): \(error)")
            }
        }
        if wait { return try load(compile(), key: key) }
        let build = BackgroundBuild()
        builds[key] = build
        DispatchQueue.global(qos: .utility).async { build.finish(Result(catching: compile)) }
        return nil
    }

    /// The function `name` of `module` with its dynamic shared-memory limit raised to what it
    /// exports, remembered for later calls.
    private func loadFunction(_ name: String, from loaded: LoadedModule, expectedSharedMemory: Int) throws(MLAError) -> LoadedKernel {
        let sharedMemory = try Self.sharedMemory(of: name, in: loaded.globals, expected: expectedSharedMemory)
        do {
            let function = try loaded.module.function(named: name)
            if sharedMemory > 48 * 1024 { try function.setMaxDynamicSharedMemory(sharedMemory) }
            let kernel = LoadedKernel(function: function, sharedMemoryBytes: sharedMemory,
                                      maxThreadsPerBlock: try function.attribute(.maxThreadsPerBlock))
            functions[name] = kernel
            return kernel
        } catch {
            throw .backend("\(error)")
        }
    }

    private func tools(for unit: KernelCatalog.Unit) throws(MLAError) -> (compiler: NVRTCCompiler, cache: CompileCache) {
        if let toolchain { return toolchain }
        do {
            let made = (NVRTCCompiler(library: try NVRTCLibrary.load()),
                        CompileCache(directory: CompileCache.defaultDirectory(), packageVersion: FlashMLAVersion.string))
            toolchain = made
            return made
        } catch {
            throw .backend("compiling \(unit.rawValue) for \(architecture): \(error)")
        }
    }

    private func load(_ program: CompiledProgram, key: ModuleKey) throws(MLAError) -> LoadedModule {
        do {
            let loaded = LoadedModule(module: try Module(device: device, image: program.cubin),
                                      globals: try CubinGlobals(cubin: program.cubin))
            modules[key] = loaded
            return loaded
        } catch {
            throw .backend("loading \(key.unit.rawValue) on \(device.name): \(error)")
        }
    }
}

/// A loaded kernel, the dynamic shared memory a block of it takes, in bytes (what its module
/// exports; 0 for a kernel that takes none), and the most threads a block of it may have (its
/// `__launch_bounds__`, which the Hopper sparse kernel's block size follows).
struct LoadedKernel: Sendable {
    let function: Function
    let sharedMemoryBytes: Int
    let maxThreadsPerBlock: Int
}

/// What a launch does when its kernel is not compiled yet and compiles slowly (`FLASHMLA_COLD_START`).
public enum ColdStart: String, Sendable, CaseIterable {
    /// Compile it in the background and run its substitute meanwhile (the default; see
    /// `DecodeKernel.coldStartSubstitute`).
    case substitute
    /// Compile it and wait (measurements, bit-for-bit checks).
    case wait

    /// The values `FLASHMLA_COLD_START` takes, as the error for any other names them.
    static let environmentValues = "substitute, wait, or unset"

    /// The choice `FLASHMLA_COLD_START=value` names: unset or empty is ``substitute``; any other
    /// value is an error rather than a silent default.
    init(environment value: String?) throws(MLAError) {
        guard let value, !value.isEmpty else { self = .substitute; return }
        guard let choice = ColdStart(rawValue: value) else {
            throw .invalidArgument(argument: "FLASHMLA_COLD_START", expected: Self.environmentValues, given: "\"\(value)\"")
        }
        self = choice
    }
}

/// One compile running on a background queue, and its outcome once finished.
private final class BackgroundBuild: Sendable {
    private let outcome = Mutex<Result<CompiledProgram, MLAError>?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    /// Records the outcome and wakes a waiter.
    func finish(_ outcome: Result<CompiledProgram, MLAError>) {
        self.outcome.withLock { $0 = outcome }
        finished.signal()
    }

    /// Whether the compile has finished (successfully or not).
    var isFinished: Bool { outcome.withLock { $0 != nil } }

    /// The compiled program, after waiting for the compile if it is still running.
    func result() throws(MLAError) -> CompiledProgram {
        if !isFinished {
            finished.wait()
            finished.signal()
        }
        return try outcome.withLock { $0! }.get()
    }
}
