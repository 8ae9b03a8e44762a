import CUDADriver
import Dispatch
import NVRTC
#if canImport(Glibc)
import Glibc
#endif

/// The compiled kernels of one device: each translation unit compiled by NVRTC for the
/// device's architecture (through the on-disk cache), for the element type a call needs, and
/// loaded once.
///
/// ## Tiers
/// A unit with a quick tier (``KernelCatalog/Unit/quickTierOptions``, the seesaw kernel) is, on
/// a cold cache, first compiled quickly while its optimized build runs on a background queue;
/// calls use the quick kernel until the optimized one is ready, then the optimized one (both
/// compute the same function). A call whose stream is being captured into a graph waits for the
/// optimized build instead, so that no graph keeps the slower kernel; so does every call when
/// ``CompileTiering/optimized`` is chosen (`FLASHMLA_COMPILE=optimized`, what `flashmla check`
/// and `bench` use). A warm cache loads the optimized kernel at once.
final class KernelLibrary: @unchecked Sendable {
    let device: Device
    let architecture: String
    let tiering: CompileTiering
    private let lock = Mutex()
    private var modules: [ModuleKey: Module] = [:]
    /// The best function loaded so far for each entry-point name, and its tier.
    private var functions: [String: (function: Function, tier: KernelCatalog.Tier)] = [:]
    /// Optimized builds running in the background, by the module they will become.
    private var builds: [ModuleKey: BackgroundBuild] = [:]
    private var toolchain: (compiler: NVRTCCompiler, cache: CompileCache)?

    /// A loaded (or loadable) module: a unit compiled for one element type (nil: all) at one tier.
    struct ModuleKey: Hashable {
        var unit: KernelCatalog.Unit
        var elementType: ElementType?
        var tier: KernelCatalog.Tier
    }

    init(device: Device, tiering: CompileTiering) {
        self.device = device
        architecture = device.nvrtcArchitecture
        self.tiering = tiering
    }

    /// The kernel `name` of `unit` (compiled with only `elementType`'s entry points, or all when
    /// nil), with its dynamic shared-memory limit raised to `sharedMemory`: the optimized build
    /// when it is ready or `optimizedOnly` asks to wait for it, else the quick one (see the type's
    /// documentation).
    func function(_ name: String, in unit: KernelCatalog.Unit, elementType: ElementType?, sharedMemory: Int = 0,
                  optimizedOnly: Bool = false) throws(MLAError) -> Function {
        try lock.withLock { () throws(MLAError) -> Function in
            if let known = functions[name], known.tier == .optimized { return known.function }
            let tiered = tiering != .optimized && !optimizedOnly && unit.quickTierOptions != nil
            if tiering == .quick && !optimizedOnly && unit.quickTierOptions != nil {
                return try loadFunction(name, from: ModuleKey(unit: unit, elementType: elementType, tier: .quick),
                                        sharedMemory: sharedMemory)
            }
            let optimizedKey = ModuleKey(unit: unit, elementType: elementType, tier: .optimized)
            if try optimizedModule(optimizedKey, wait: !tiered) != nil {
                return try loadFunction(name, from: optimizedKey, sharedMemory: sharedMemory)
            }
            if let known = functions[name] { return known.function }
            return try loadFunction(name, from: ModuleKey(unit: unit, elementType: elementType, tier: .quick),
                                    sharedMemory: sharedMemory)
        }
    }

    /// Blocks until every optimized build started in the background has finished and is loaded
    /// (for measurements, which must time the optimized kernels).
    func waitForOptimizedBuilds() throws(MLAError) {
        try lock.withLock { () throws(MLAError) in
            for key in Array(builds.keys) { _ = try optimizedModule(key, wait: true) }
        }
    }

    /// Whether an optimized build is still running in the background.
    var hasBackgroundBuilds: Bool { lock.withLock { !builds.isEmpty } }

    // MARK: Under the lock

    /// The optimized module of `key`: loaded already, finished in the background, in the disk cache,
    /// or (when `wait`) compiled now or awaited; nil when it is still being built, after starting a
    /// background build if none was running.
    private func optimizedModule(_ key: ModuleKey, wait: Bool) throws(MLAError) -> Module? {
        if let module = modules[key] { return module }
        if let build = builds[key] {
            guard wait || build.isFinished else { return nil }
            builds[key] = nil
            return try load(build.result(), key: key)
        }
        let request = self.request(for: key)
        let (compiler, cache) = try tools(for: key.unit)
        if let cached = cache.cachedProgram(forKey: cache.key(for: request, compilerIdentity: compiler.identity)) {
            return try load(cached, key: key)
        }
        if wait { return try load(compile(request, unit: key.unit), key: key) }
        let build = BackgroundBuild()
        builds[key] = build
        let architecture = self.architecture
        DispatchQueue.global(qos: .utility).async {
            let outcome = Result { () throws(MLAError) -> CompiledProgram in
                do { return try cache.program(for: request, compiler: compiler).program } catch {
                    throw .backend("compiling \(key.unit.rawValue) for \(architecture): \(error)")
                }
            }
            build.finish(outcome)
        }
        return nil
    }

    /// The function `name` of the module `key` (compiled or loaded now if need be), remembered as
    /// the best so far for its name.
    private func loadFunction(_ name: String, from key: ModuleKey, sharedMemory: Int) throws(MLAError) -> Function {
        let module: Module
        if let loaded = modules[key] {
            module = loaded
        } else {
            module = try load(compile(request(for: key), unit: key.unit), key: key)
        }
        do {
            let function = try module.function(named: name)
            if sharedMemory > 48 * 1024 { try function.setMaxDynamicSharedMemory(sharedMemory) }
            functions[name] = (function, key.tier)
            return function
        } catch {
            throw .backend("\(error)")
        }
    }

    private func request(for key: ModuleKey) -> CompileRequest {
        KernelCatalog.request(for: key.unit, architecture: architecture, elementType: key.elementType, tier: key.tier)
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

    /// `request` compiled through the disk cache.
    private func compile(_ request: CompileRequest, unit: KernelCatalog.Unit) throws(MLAError) -> CompiledProgram {
        let (compiler, cache) = try tools(for: unit)
        do {
            return try cache.program(for: request, compiler: compiler).program
        } catch {
            throw .backend("compiling \(unit.rawValue) for \(architecture): \(error)")
        }
    }

    private func load(_ program: CompiledProgram, key: ModuleKey) throws(MLAError) -> Module {
        do {
            let module = try Module(device: device, image: program.cubin)
            modules[key] = module
            return module
        } catch {
            throw .backend("loading \(key.unit.rawValue) on \(device.name): \(error)")
        }
    }
}

/// How a cold cache is compiled (`FLASHMLA_COMPILE`).
public enum CompileTiering: String, Sendable, CaseIterable {
    /// Quick build first where a unit has a quick tier, the optimized one in the background (the default).
    case tiered
    /// Always wait for the optimized build (measurements, bit-for-bit checks).
    case optimized
    /// Only the quick builds of units that have one (to check them).
    case quick

    /// The values `FLASHMLA_COMPILE` takes, as the error for any other names them.
    static let environmentValues = "tiered, optimized, quick, or unset"

    /// The tiering `FLASHMLA_COMPILE=value` names: unset or empty is ``tiered``; any other value is
    /// an error rather than a silent default.
    init(environment value: String?) throws(MLAError) {
        guard let value, !value.isEmpty else { self = .tiered; return }
        guard let tiering = CompileTiering(rawValue: value) else {
            throw .invalidArgument(argument: "FLASHMLA_COMPILE", expected: Self.environmentValues, given: "\"\(value)\"")
        }
        self = tiering
    }
}

/// One optimized compile running on a background queue, and its outcome once finished.
private final class BackgroundBuild: @unchecked Sendable {
    private let lock = Mutex()
    private let finished = DispatchSemaphore(value: 0)
    private var outcome: Result<CompiledProgram, MLAError>?

    /// Records the outcome and wakes a waiter.
    func finish(_ outcome: Result<CompiledProgram, MLAError>) {
        lock.withLock { self.outcome = outcome }
        finished.signal()
    }

    /// Whether the compile has finished (successfully or not).
    var isFinished: Bool { lock.withLock { outcome != nil } }

    /// The compiled program, after waiting for the compile if it is still running.
    func result() throws(MLAError) -> CompiledProgram {
        if !isFinished {
            finished.wait()
            finished.signal()
        }
        return try lock.withLock { outcome! }.get()
    }
}
