// CUDADriver: libcuda opened with dlopen, and each device's primary context.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A `dlopen` handle, immutable once opened.
struct LibraryHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// A retained primary context (`CUcontext`), kept for the life of the process.
struct ContextHandle: @unchecked Sendable {
    let raw: OpaquePointer
}

/// The CUDA driver (`libcuda`), opened with `dlopen` at run time; nothing links against CUDA.
///
/// `shared()` opens the library once per process, resolves every entry point with `dlsym`
/// (a missing one fails only the call that needs it) and calls `cuInit(0)`. The outcome, success
/// or failure, is cached. The driver also keeps each device's primary context, retained on first
/// use and never released, and makes it current on the calling thread before every operation,
/// because Swift tasks may resume on any thread.
public final class CUDADriver: Sendable {
    /// The names handed to `dlopen`, in order.
    public static let libraryCandidates = ["libcuda.so.1", "libcuda.so"]

    /// The resolved entry points.
    let symbols: DriverSymbols
    /// The open library, or nil for a driver built from a test symbol table.
    let library: LibraryHandle?
    /// The file the driver was loaded from: the real path `dladdr` reports for `cuInit`, or
    /// failing that the name given to `dlopen`.
    public let libraryPath: String
    /// The driver's CUDA version as `cuDriverGetVersion` reports it, e.g. 12080 or 13000.
    public let version: Int32
    /// Primary contexts retained so far, by device ordinal.
    private let contexts = Mutex<[Int: ContextHandle]>([:])

    /// The process-wide load outcome (Swift initializes a static `let` exactly once, thread-safely).
    private static let loadOutcome: Result<CUDADriver, CUDAError> = load(candidates: libraryCandidates)

    /// Wraps an already resolved symbol table; `cuInit` is not called here.
    init(symbols: DriverSymbols, library: LibraryHandle?, libraryPath: String, version: Int32) {
        self.symbols = symbols
        self.library = library
        self.libraryPath = libraryPath
        self.version = version
    }

    /// The process-wide driver: opens `libcuda.so.1` (else `libcuda.so`), resolves its entry points
    /// and calls `cuInit(0)`, once. Later calls return the cached driver or rethrow the cached error:
    /// `.libraryNotFound` where no driver is installed, `.call(function: "cuInit", ...)` where it is
    /// installed but unusable (e.g. `CUDA_ERROR_NO_DEVICE`).
    public static func shared() throws(CUDAError) -> CUDADriver {
        try loadOutcome.get()
    }

    /// Whether a usable driver was loaded (never throws).
    public static var isAvailable: Bool {
        (try? shared()) != nil
    }

    /// Opens the first loadable library among `candidates`, resolves it and initializes it.
    static func load(candidates: [String]) -> Result<CUDADriver, CUDAError> {
        var reason = "no candidates"
        for candidate in candidates {
            _ = dlerror()
            guard let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) else {
                if let text = dlerror() {
                    reason = String(cString: text)
                } else {
                    reason = "dlopen(\(candidate)) failed"
                }
                continue
            }
            let symbols = DriverSymbols { name in dlsym(handle, name) }
            guard let cuInit = symbols.cuInit.pointer else {
                reason = "\(candidate) does not export cuInit"
                dlclose(handle)
                continue
            }
            let path = realPath(of: UnsafeRawPointer(bitPattern: unsafeBitCast(cuInit, to: Int.self)))
                ?? candidate
            let status = cuInit(0)
            if status != CUConstant.success {
                return .failure(makeError(code: status, function: symbols.cuInit.name, symbols: symbols))
            }
            var version: Int32 = 0
            if let getVersion = symbols.cuDriverGetVersion.pointer {
                let status = getVersion(&version)
                if status != CUConstant.success {
                    return .failure(makeError(code: status, function: symbols.cuDriverGetVersion.name, symbols: symbols))
                }
            }
            return .success(CUDADriver(
                symbols: symbols,
                library: LibraryHandle(raw: handle),
                libraryPath: path,
                version: version))
        }
        return .failure(.libraryNotFound(tried: candidates, reason: reason))
    }

    /// The file containing `address`, as the dynamic loader knows it (`dladdr`, looked up at run
    /// time because the C library module does not export this GNU extension to Swift).
    private static func realPath(of address: UnsafeRawPointer?) -> String? {
        typealias DladdrFunction = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32
        guard let address, let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "dladdr") else {
            return nil
        }
        let dladdr = unsafeBitCast(symbol, to: DladdrFunction.self)
        // Dl_info is { const char *dli_fname; void *dli_fbase; const char *dli_sname; void *dli_saddr; }.
        var info: (UnsafePointer<CChar>?, UnsafeRawPointer?, UnsafePointer<CChar>?, UnsafeRawPointer?) = (nil, nil, nil, nil)
        let found = withUnsafeMutableBytes(of: &info) { dladdr(address, $0.baseAddress) }
        guard found != 0, let name = info.0 else { return nil }
        return String(cString: name)
    }

    /// The number of CUDA devices visible to this process (`cuDeviceGetCount`).
    public func deviceCount() throws(CUDAError) -> Int {
        var count: Int32 = 0
        try call(symbols.cuDeviceGetCount) { $0(&count) }
        return Int(count)
    }

    // MARK: - Calls and errors

    /// Calls a resolved entry point and turns a failing status into `.call`.
    /// Throws `.missingSymbol` when the library lacks the entry point.
    @inline(__always)
    func call<F>(_ symbol: Symbol<F>, _ body: (F) -> CUresult) throws(CUDAError) {
        let function = try symbol.get()
        let status = body(function)
        if status != CUConstant.success {
            throw error(code: status, function: symbol.name)
        }
    }

    /// The `.call` error for `code` returned by `function`, named via `cuGetErrorName`/`String`.
    func error(code: CUresult, function: String) -> CUDAError {
        Self.makeError(code: code, function: function, symbols: symbols)
    }

    /// Builds `.call`, asking the driver for the error's name and text, with a built-in fallback.
    static func makeError(code: CUresult, function: String, symbols: DriverSymbols) -> CUDAError {
        func text(_ symbol: Symbol<PFNGetErrorText>) -> String? {
            guard let get = symbol.pointer else { return nil }
            var pointer: UnsafePointer<CChar>? = nil
            guard get(code, &pointer) == CUConstant.success, let pointer else { return nil }
            return String(cString: pointer)
        }
        let name = text(symbols.cuGetErrorName) ?? CUResultNames.name(code)
        let message = text(symbols.cuGetErrorString) ?? CUResultNames.message(code)
        return .call(function: function, code: code, name: name, message: message)
    }

    // MARK: - Contexts

    /// The primary context of device `ordinal`, retained on first use and cached for the life
    /// of the process.
    func primaryContext(ordinal: Int) throws(CUDAError) -> ContextHandle {
        let outcome: Result<ContextHandle, CUDAError> = contexts.withLock { table in
            if let context = table[ordinal] { return .success(context) }
            let retained = retainPrimaryContext(ordinal: ordinal)
            if case let .success(context) = retained { table[ordinal] = context }
            return retained
        }
        return try outcome.get()
    }

    private func retainPrimaryContext(ordinal: Int) -> Result<ContextHandle, CUDAError> {
        guard let ordinal32 = Int32(exactly: ordinal), ordinal >= 0 else {
            return .failure(.invalidArgument("device ordinal \(ordinal) is out of range"))
        }
        do throws(CUDAError) {
            var device: CUdevice = 0
            try call(symbols.cuDeviceGet) { $0(&device, ordinal32) }
            var context: OpaquePointer? = nil
            try call(symbols.cuDevicePrimaryCtxRetain) { $0(&context, device) }
            guard let context else {
                return .failure(.invalidArgument("cuDevicePrimaryCtxRetain returned no context for device \(ordinal)"))
            }
            return .success(ContextHandle(raw: context))
        } catch {
            return .failure(error)
        }
    }

    /// Makes device `ordinal`'s primary context current on the calling thread (`cuCtxSetCurrent`).
    func makeCurrent(ordinal: Int) throws(CUDAError) {
        let context = try primaryContext(ordinal: ordinal)
        try call(symbols.cuCtxSetCurrent) { $0(context.raw) }
    }

    /// Makes some context current if the calling thread has none (device 0's primary context),
    /// for calls such as `cuPointerGetAttribute` that need one but not a particular one.
    func ensureSomeContextCurrent() throws(CUDAError) {
        var current: OpaquePointer? = nil
        try call(symbols.cuCtxGetCurrent) { $0(&current) }
        if current == nil {
            try makeCurrent(ordinal: 0)
        }
    }

    /// The ordinal of the device whose context is current on the calling thread (`cuCtxGetDevice`),
    /// or nil when no context is current.
    public func currentDeviceOrdinal() throws(CUDAError) -> Int? {
        var current: OpaquePointer? = nil
        try call(symbols.cuCtxGetCurrent) { $0(&current) }
        guard current != nil else { return nil }
        var device: CUdevice = 0
        try call(symbols.cuCtxGetDevice) { $0(&device) }
        return Int(device)
    }
}
