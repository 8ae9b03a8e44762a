// NVRTCCompiler: CUDA C++ to cubin through NVRTC; CompiledProgram.
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The output of one successful compile.
public struct CompiledProgram: Sendable, Equatable {
    /// The cubin (an ELF image) for the requested architecture, ready for `cuModuleLoadData`.
    public var cubin: [UInt8]
    /// The full NVRTC program log, including the ptxas resource lines and any warnings.
    public var log: String
    /// The ptxas resource report parsed from `log`.
    public var report: PtxasReport

    /// Creates a program from its parts.
    public init(cubin: [UInt8], log: String, report: PtxasReport) {
        self.cubin = cubin
        self.log = log
        self.report = report
    }
}

/// Something that turns CUDA C++ into a cubin: NVRTC in production, a fake in tests.
public protocol CubinCompiler: Sendable {
    /// Names the compiler, its version and anything else that changes its output (e.g. `"nvrtc 13.0 …"`);
    /// it is part of every cache key.
    var identity: String { get }
    /// Compiles `request` to a cubin.
    func compile(_ request: CompileRequest) throws(NVRTCError) -> CompiledProgram
}

/// Compiles with a loaded NVRTC library.
///
/// Every compile passes `--gpu-architecture=<arch>` (a real `sm_` architecture, so NVRTC emits a cubin),
/// `-std=c++17` and `--ptxas-options=-v` (so the log carries the ptxas resource report), then the request's
/// own options. Fast math and line info are not enabled.
public struct NVRTCCompiler: CubinCompiler {
    /// The library compiles go through.
    public let library: NVRTCLibrary

    /// The options added before the request's own, apart from the architecture.
    public static let fixedOptions = ["-std=c++17", "--ptxas-options=-v"]

    /// NVRTC's status for a source that failed to compile (`NVRTC_ERROR_COMPILATION`).
    static let compilationFailed: Int32 = 6

    /// Creates a compiler that uses `library`.
    public init(library: NVRTCLibrary) {
        self.library = library
    }

    /// `"nvrtc <major>.<minor>"` plus the fixed options, so a change to either invalidates cached cubins.
    public var identity: String {
        "nvrtc \(library.version.major).\(library.version.minor) " + Self.fixedOptions.joined(separator: " ")
    }

    /// The complete option list NVRTC receives for `request`.
    public static func options(for request: CompileRequest) -> [String] {
        ["--gpu-architecture=\(request.architecture)"] + fixedOptions + request.options
    }

    /// Compiles `request`; the NVRTC program is destroyed on every path.
    /// - Throws: ``NVRTCError/compilation(log:)`` when the source has errors (or `mainFile` is not among
    ///   the sources), ``NVRTCError/call(function:code:message:)`` when NVRTC itself fails.
    public func compile(_ request: CompileRequest) throws(NVRTCError) -> CompiledProgram {
        guard let mainSource = request.sources[request.mainFile] else {
            throw .compilation(log: "main file \"\(request.mainFile)\" is not among the sources "
                + "(\(request.sources.keys.sorted().joined(separator: ", ")))")
        }
        let headerNames = request.headerNames
        let headerTexts = headerNames.map { request.sources[$0]! }
        let api = library.api

        var program: OpaquePointer?
        let created = withCStringArray(headerTexts) { texts in
            withCStringArray(headerNames) { names in
                api.createProgram(&program, mainSource, request.mainFile, Int32(headerNames.count), texts, names)
            }
        }
        try check(created, "nvrtcCreateProgram")
        guard let handle = program else {
            throw .call(function: "nvrtcCreateProgram", code: -1, message: "returned no program")
        }
        defer { _ = api.destroyProgram(&program) }

        let options = Self.options(for: request)
        let compiled = withCStringArray(options) { api.compileProgram(handle, Int32(options.count), $0) }
        let log = try programLog(handle)
        if compiled == Self.compilationFailed { throw .compilation(log: log) }
        try check(compiled, "nvrtcCompileProgram", log: log)

        var size = 0
        try check(api.getCUBINSize(handle, &size), "nvrtcGetCUBINSize")
        var cubin = [UInt8](repeating: 0, count: size)
        if size > 0 {
            let status = cubin.withUnsafeMutableBytes { buffer in
                api.getCUBIN(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            try check(status, "nvrtcGetCUBIN")
        }
        return CompiledProgram(cubin: cubin, log: log, report: PtxasReport.parse(log))
    }

    /// The program log, without its terminating NUL.
    private func programLog(_ handle: OpaquePointer) throws(NVRTCError) -> String {
        var size = 0
        try check(library.api.getProgramLogSize(handle, &size), "nvrtcGetProgramLogSize")
        guard size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        try check(library.api.getProgramLog(handle, &bytes), "nvrtcGetProgramLog")
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Throws ``NVRTCError/call(function:code:message:)`` unless `status` is `NVRTC_SUCCESS`.
    private func check(_ status: Int32, _ function: String, log: String = "") throws(NVRTCError) {
        guard status != 0 else { return }
        var message = library.errorString(status)
        if !log.isEmpty { message += ": " + log }
        throw .call(function: function, code: status, message: message)
    }
}

/// Calls `body` with a C array of C strings that live for the duration of the call.
private func withCStringArray<Result>(
    _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> Result
) -> Result {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
