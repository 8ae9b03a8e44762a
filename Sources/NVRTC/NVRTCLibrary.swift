// NVRTCLibrary: libnvrtc found and opened with dlopen, and its entry points.
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A loaded `libnvrtc`: where it was found, its version, and its entry points.
///
/// Obtain one with ``load(environment:)``. Loaded libraries are cached for the life of the
/// process (they are never unloaded), so repeated calls are cheap and thread safe.
public struct NVRTCLibrary: Sendable {
    /// The location the library was loaded from: a file path, or the real file behind a bare
    /// library name resolved by the dynamic loader.
    public let path: String
    /// The NVRTC version reported by `nvrtcVersion`.
    public let version: (major: Int, minor: Int)
    /// The resolved C entry points.
    let api: NVRTCEntryPoints

    /// Finds, loads and caches `libnvrtc`, searching the places of ``searchLocations(environment:)`` in order.
    ///
    /// A file path is loaded only if the file exists; a bare name (`libnvrtc.so.13`) goes to the
    /// dynamic loader's own search. When the library sits beside its `libnvrtc-builtins` (as in the
    /// `nvidia-cuda-nvrtc` wheel, which carries no RPATH), the builtins are preloaded from that
    /// folder so that NVRTC finds them without `LD_LIBRARY_PATH`.
    /// - Throws: ``NVRTCError/libraryNotFound(tried:)`` listing every location tried.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(NVRTCError) -> NVRTCLibrary {
        let locations = searchLocations(environment: environment)
        if let cached = LibraryCache.shared.library(forSearch: locations) { return cached }
        for location in locations {
            if location.hasPrefix("/"), !FileManager.default.fileExists(atPath: location) { continue }
            if let library = LibraryCache.shared.library(at: location) ?? open(location) {
                LibraryCache.shared.remember(library, location: location, search: locations)
                return library
            }
        }
        throw .libraryNotFound(tried: locations)
    }

    /// Every place ``load(environment:)`` looks, in order, without touching the loader.
    ///
    /// The order is: `$FLASHMLA_NVRTC`; `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64` and `/usr/local/cuda/lib64`
    /// (`libnvrtc.so`, `.so.13`, `.so.12`); the bare names `libnvrtc.so.13`, `libnvrtc.so.12`, `libnvrtc.so`
    /// for the dynamic loader; then `nvidia/cu13/lib` and `nvidia/cuda_nvrtc/lib` under each Python
    /// site-packages folder: `$VIRTUAL_ENV/lib/python3*/site-packages`, each `$PYTHONPATH` entry, each
    /// `$FLASHMLA_PYTHON_SITE` entry, `/usr/lib/python3*/site-packages`,
    /// `/usr/local/lib/python3*/{dist,site}-packages`, `$HOME/.local/lib/python3*/site-packages`,
    /// `/opt/*/.venv/lib/python3*/site-packages` and `/root/.pyenv/versions/*/lib/python3*/site-packages`.
    /// Wildcards are expanded against the file system; duplicates are dropped.
    public static func searchLocations(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String] {
        func value(_ key: String) -> String? {
            guard let text = environment[key], !text.isEmpty else { return nil }
            return text
        }
        func pathList(_ key: String) -> [String] {
            (value(key) ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        let toolkitNames = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
        var locations: [String] = []
        if let explicit = value("FLASHMLA_NVRTC") { locations.append(explicit) }
        for root in [value("CUDA_HOME"), value("CUDA_PATH"), "/usr/local/cuda"].compactMap({ $0 }) {
            locations += toolkitNames.map { joined(root, "lib64", $0) }
        }
        locations += ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]

        var sitePackages: [String] = []
        if let venv = value("VIRTUAL_ENV") { sitePackages += expand(joined(venv, "lib/python3*/site-packages")) }
        sitePackages += pathList("PYTHONPATH")
        sitePackages += pathList("FLASHMLA_PYTHON_SITE")
        sitePackages += expand("/usr/lib/python3*/site-packages")
        sitePackages += expand("/usr/local/lib/python3*/dist-packages")
        sitePackages += expand("/usr/local/lib/python3*/site-packages")
        if let home = value("HOME") { sitePackages += expand(joined(home, ".local/lib/python3*/site-packages")) }
        sitePackages += expand("/opt/*/.venv/lib/python3*/site-packages")
        sitePackages += expand("/root/.pyenv/versions/*/lib/python3*/site-packages")
        for site in sitePackages {
            locations.append(joined(site, "nvidia/cu13/lib/libnvrtc.so.13"))
            locations.append(joined(site, "nvidia/cuda_nvrtc/lib/libnvrtc.so.13"))
            locations.append(joined(site, "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"))
        }
        var seen = Set<String>()
        return locations.filter { seen.insert($0).inserted }
    }

    /// The text NVRTC gives for a status code, such as `"NVRTC_ERROR_COMPILATION"`.
    public func errorString(_ code: Int32) -> String {
        guard let text = api.getErrorString(code) else { return "NVRTC status \(code)" }
        return String(cString: text)
    }

    // MARK: - Loading

    /// Opens one candidate and resolves the entry points; nil if anything is missing.
    private static func open(_ location: String) -> NVRTCLibrary? {
        guard let handle = dlopen(location, RTLD_NOW | RTLD_LOCAL) else { return nil }
        guard let api = NVRTCEntryPoints(handle: handle) else {
            dlclose(handle)
            return nil
        }
        var major: Int32 = 0
        var minor: Int32 = 0
        guard api.version(&major, &minor) == 0 else {
            dlclose(handle)
            return nil
        }
        let file = loadedFile(of: handle) ?? location
        preloadBuiltins(besides: file, major: Int(major), minor: Int(minor))
        return NVRTCLibrary(path: file, version: (Int(major), Int(minor)), api: api)
    }

    /// The file the loader actually mapped for `handle` (resolves bare names and symlinks), found by
    /// looking up the address of `nvrtcVersion` in `/proc/self/maps`; nil where that is unavailable.
    private static func loadedFile(of handle: UnsafeMutableRawPointer) -> String? {
        guard let symbol = dlsym(handle, "nvrtcVersion"),
              let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        else { return nil }
        let address = UInt(bitPattern: symbol)
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode   /path/to/file"
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6 else { continue }
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            guard bounds.count == 2, bounds[0] <= address, address < bounds[1] else { continue }
            let file = String(fields[5]).trimmingWhitespace()
            return file.hasPrefix("/") ? file : nil
        }
        return nil
    }

    /// NVRTC opens `libnvrtc-builtins.so.<major>.<minor>` by bare name at compile time. Loading it
    /// first by full path from the library's own folder lets the loader match it by soname.
    private static func preloadBuiltins(besides library: String, major: Int, minor: Int) {
        let folder = library.lastIndex(of: "/").map { String(library[..<$0]) } ?? "."
        let builtins = joined(folder, "libnvrtc-builtins.so.\(major).\(minor)")
        guard FileManager.default.fileExists(atPath: builtins) else { return }
        _ = dlopen(builtins, RTLD_NOW | RTLD_GLOBAL)  // kept open for the life of the process
    }

    /// Joins path components with single slashes.
    private static func joined(_ parts: String...) -> String {
        parts.dropFirst().reduce(parts[0]) { base, part in
            base.hasSuffix("/") ? base + part : base + "/" + part
        }
    }

    /// Expands shell wildcards in `pattern` against the file system, sorted; no match gives nothing.
    private static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in
            result.gl_pathv[index].map { String(cString: $0) }
        }
    }
}

/// The NVRTC C entry points, resolved once per loaded library.
final class NVRTCEntryPoints: @unchecked Sendable {
    typealias Program = OpaquePointer
    typealias CStringArray = UnsafePointer<UnsafePointer<CChar>?>
    typealias Version = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    typealias CreateProgram = @convention(c) (
        UnsafeMutablePointer<Program?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
        CStringArray?, CStringArray?
    ) -> Int32
    typealias DestroyProgram = @convention(c) (UnsafeMutablePointer<Program?>) -> Int32
    typealias CompileProgram = @convention(c) (Program, Int32, CStringArray?) -> Int32
    typealias GetSize = @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
    typealias GetBytes = @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
    typealias GetErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?

    let version: Version
    let createProgram: CreateProgram
    let destroyProgram: DestroyProgram
    let compileProgram: CompileProgram
    let getProgramLogSize: GetSize
    let getProgramLog: GetBytes
    let getCUBINSize: GetSize
    let getCUBIN: GetBytes
    let getErrorString: GetErrorString

    /// Resolves every entry point from `handle`; nil if one is missing. The handle is never closed.
    init?(handle: UnsafeMutableRawPointer) {
        func symbol<F>(_ name: String, as type: F.Type) -> F? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard
            let version = symbol("nvrtcVersion", as: Version.self),
            let createProgram = symbol("nvrtcCreateProgram", as: CreateProgram.self),
            let destroyProgram = symbol("nvrtcDestroyProgram", as: DestroyProgram.self),
            let compileProgram = symbol("nvrtcCompileProgram", as: CompileProgram.self),
            let getProgramLogSize = symbol("nvrtcGetProgramLogSize", as: GetSize.self),
            let getProgramLog = symbol("nvrtcGetProgramLog", as: GetBytes.self),
            let getCUBINSize = symbol("nvrtcGetCUBINSize", as: GetSize.self),
            let getCUBIN = symbol("nvrtcGetCUBIN", as: GetBytes.self),
            let getErrorString = symbol("nvrtcGetErrorString", as: GetErrorString.self)
        else { return nil }
        self.version = version
        self.createProgram = createProgram
        self.destroyProgram = destroyProgram
        self.compileProgram = compileProgram
        self.getProgramLogSize = getProgramLogSize
        self.getProgramLog = getProgramLog
        self.getCUBINSize = getCUBINSize
        self.getCUBIN = getCUBIN
        self.getErrorString = getErrorString
    }
}

/// The process-wide memory of loaded libraries: by location, and by the search that found them.
/// This is the module's only shared mutable state; a lock guards it.
private final class LibraryCache: Sendable {
    static let shared = LibraryCache()

    private struct State {
        var byLocation: [String: NVRTCLibrary] = [:]
        var bySearch: [[String]: NVRTCLibrary] = [:]
    }
    private let state = Mutex(State())

    func library(at location: String) -> NVRTCLibrary? {
        state.withLock { $0.byLocation[location] }
    }

    func library(forSearch locations: [String]) -> NVRTCLibrary? {
        state.withLock { $0.bySearch[locations] }
    }

    func remember(_ library: NVRTCLibrary, location: String, search: [String]) {
        state.withLock { state in
            // Keep the first library stored for a location so every caller shares one set of entry points.
            let kept = state.byLocation[location] ?? library
            state.byLocation[location] = kept
            state.bySearch[search] = kept
        }
    }
}
