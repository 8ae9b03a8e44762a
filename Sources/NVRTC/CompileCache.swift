// CompileCache: the on-disk cubin cache and its keys.
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An on-disk cache of compiled programs, one file per compile, shared safely between processes.
///
/// An entry is `<directory>/<key>.cubin` with the layout
///
///     "FMLACUB1"  (8 bytes, magic)
///     UInt64      payload length, little endian
///     [32]UInt8   SHA-256 of the payload
///     payload:    UInt32 little-endian length N, then N bytes of JSON {key, log, report}, then the cubin
///
/// An entry whose magic, length, hash or recorded key does not check out is never used: it is
/// deleted and rebuilt. New entries are written to a uniquely named temporary file (mode 0600) in
/// the same folder and renamed over the final name, so readers see either no entry or a whole
/// one, and racing writers both succeed (the last rename wins; both wrote the same program).
///
/// The cache loads code, so it trusts only what the current user alone can have written: the
/// folder is created with mode 0700, and a folder or entry that is writable by group or others,
/// owned by another user, or (for an entry) a symbolic link or not a regular file is refused
/// (``CacheProblem``). The folder is opened once per call and every entry is reached through
/// that descriptor (`openat` without following links, `fstat`, `renameat`), so what is checked is
/// what is read. A refused or unusable cache fails nothing: the program is compiled in memory
/// and the problem reported through ``reporter``.
public struct CompileCache: Sendable {
    /// The folder holding the entries.
    public let directory: URL
    /// This package's version; part of every key, so an upgrade never reuses old cubins.
    public let packageVersion: String
    /// Where problems with the cache are reported (default: standard error, once per process).
    public let reporter: CacheReporter
    /// The user the cache must belong to (default: the effective user of this process).
    public let currentUser: UInt32

    /// The entry file's first eight bytes.
    static let magic = Array("FMLACUB1".utf8)
    /// Magic, payload length and payload hash.
    static let headerSize = 8 + 8 + 32

    /// `$FLASHMLA_CACHE_DIR`, else `$XDG_CACHE_HOME/flashmla`, else `$HOME/.cache/flashmla`
    /// (empty variables count as unset; without `HOME`, the user's home directory from the system).
    public static func defaultDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> URL {
        func value(_ key: String) -> String? {
            guard let text = environment[key], !text.isEmpty else { return nil }
            return text
        }
        if let explicit = value("FLASHMLA_CACHE_DIR") {
            return URL(fileURLWithPath: explicit, isDirectory: true)
        }
        if let xdg = value("XDG_CACHE_HOME") {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("flashmla", isDirectory: true)
        }
        let home = value("HOME") ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home, isDirectory: true)
            .appendingPathComponent(".cache", isDirectory: true)
            .appendingPathComponent("flashmla", isDirectory: true)
    }

    /// A cache in `directory` (created, mode 0700, on first use) for this `packageVersion`.
    public init(directory: URL, packageVersion: String, reporter: CacheReporter = .standardError,
                currentUser: UInt32 = geteuid()) {
        self.directory = directory
        self.packageVersion = packageVersion
        self.reporter = reporter
        self.currentUser = currentUser
    }

    /// The cache key of `request` for a compiler: 64 hex digits of SHA-256 over a length-prefixed
    /// encoding of the main file name, every source (name and text, sorted by name), the options in
    /// order, the architecture, `compilerIdentity` and the package version.
    public func key(for request: CompileRequest, compilerIdentity: String) -> String {
        var encoder = KeyEncoder()
        encoder.field("flashmla cubin cache key v1")
        encoder.field("main")
        encoder.field(request.mainFile)
        encoder.count("sources", request.sources.count)
        for name in request.sources.keys.sorted() {
            encoder.field(name)
            encoder.field(request.sources[name]!)
        }
        encoder.count("options", request.options.count)
        request.options.forEach { encoder.field($0) }
        encoder.field("architecture")
        encoder.field(request.architecture)
        encoder.field("compiler")
        encoder.field(compilerIdentity)
        encoder.field("package")
        encoder.field(packageVersion)
        return SHA256.hex(encoder.hasher.finalize())
    }

    /// The file that holds the entry for `key`.
    public func entryURL(forKey key: String) -> URL {
        directory.appendingPathComponent(key + ".cubin", isDirectory: false)
    }

    /// Returns the cached program for `request`, compiling and storing it on a miss.
    ///
    /// A corrupt or truncated entry is removed and rebuilt. A cache that cannot be used (a path
    /// that is not a folder or cannot be created, a folder or entry that is not trusted, a full
    /// disk) does not fail the call: the problem is reported, the freshly compiled program is
    /// returned with `cacheHit == false`, and an untrusted entry in a trusted folder is replaced.
    /// - Throws: whatever `compiler` throws.
    public func program(
        for request: CompileRequest, compiler: some CubinCompiler
    ) throws(NVRTCError) -> (program: CompiledProgram, cacheHit: Bool) {
        let key = key(for: request, compilerIdentity: compiler.identity)
        let folder: CacheFolder
        switch CacheFolder.acquire(directory.path, create: true, currentUser: currentUser) {
        case let .success(opened?):
            folder = opened
        case .success(nil):
            return (try compiler.compile(request), false)
        case let .failure(problem):
            reporter.report(problem)
            return (try compiler.compile(request), false)
        }
        if let cached = cachedProgram(forKey: key, in: folder) {
            return (cached, true)
        }
        let program = try compiler.compile(request)
        if case let .failure(problem) = store(program, forKey: key, in: folder) { reporter.report(problem) }
        return (program, false)
    }

    /// The valid entry for `key`, or nil. An entry that exists but fails verification is deleted;
    /// an untrusted folder or entry is reported and not read.
    public func cachedProgram(forKey key: String) -> CompiledProgram? {
        switch CacheFolder.acquire(directory.path, create: false, currentUser: currentUser) {
        case let .success(folder?):
            return cachedProgram(forKey: key, in: folder)
        case .success(nil):
            return nil
        case let .failure(problem):
            reporter.report(problem)
            return nil
        }
    }

    /// Writes the entry for `key` atomically: a unique temporary file (mode 0600) in the cache
    /// folder, then `rename` over `<key>.cubin`. Creates the folder (mode 0700, with
    /// intermediates) when missing.
    /// - Throws: ``NVRTCError/cache(_:)`` when the folder is unusable or untrusted, or the file
    ///   cannot be written.
    public func store(_ program: CompiledProgram, forKey key: String) throws(NVRTCError) {
        switch CacheFolder.acquire(directory.path, create: true, currentUser: currentUser) {
        case let .success(folder?):
            if case let .failure(problem) = store(program, forKey: key, in: folder) { throw .cache(problem.description) }
        case .success(nil):
            throw .cache("cannot prepare \(directory.path)")
        case let .failure(problem):
            throw .cache(problem.description)
        }
    }

    /// Whether the folder, if it exists, can be used: nil when it is missing or trusted, else why
    /// not. Creates nothing and reports nothing.
    public func folderProblem() -> CacheProblem? {
        if case let .failure(problem) = CacheFolder.acquire(directory.path, create: false, currentUser: currentUser) {
            return problem
        }
        return nil
    }

    /// Why a file with permission and type bits `mode`, owned by `owner`, may not be trusted by
    /// `currentUser`, or nil: it must be a folder (`folder`) or a regular file, owned by
    /// `currentUser`, and not writable by group or others.
    public static func distrust(mode: UInt32, owner: UInt32, currentUser: UInt32,
                                folder: Bool) -> CacheProblem.Distrust? {
        let kind = mode & UInt32(S_IFMT)
        if kind == UInt32(S_IFLNK) { return .symbolicLink }
        if kind != UInt32(folder ? S_IFDIR : S_IFREG) { return .wrongKind(expected: folder ? "a folder" : "a regular file") }
        if owner != currentUser { return .owner(uid: owner, currentUser: currentUser) }
        if mode & 0o022 != 0 { return .writableByOthers(mode: mode & 0o7777) }
        return nil
    }

    private func cachedProgram(forKey key: String, in folder: CacheFolder) -> CompiledProgram? {
        let name = key + ".cubin"
        switch folder.entryBytes(name) {
        case let .success(bytes?):
            if let program = Self.decode(entry: bytes, key: key) { return program }
            folder.remove(name)
            return nil
        case .success(nil):
            return nil
        case let .failure(problem):
            reporter.report(problem)
            return nil
        }
    }

    private func store(_ program: CompiledProgram, forKey key: String, in folder: CacheFolder) -> Result<Void, CacheProblem> {
        let entry: [UInt8]
        do {
            entry = try Self.encode(program, key: key)
        } catch {
            return .failure(.cannotStore(path: directory.path, reason: "\(error)"))
        }
        let pid = ProcessInfo.processInfo.processIdentifier
        let nonce = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return folder.writeAtomically(entry, temporary: ".\(key).\(pid).\(nonce).tmp", final: key + ".cubin")
    }

    // MARK: - Entry format

    /// What the JSON part of an entry holds.
    private struct Metadata: Codable {
        var key: String
        var log: String
        var report: PtxasReport
    }

    /// The bytes of an entry file for `program`.
    static func encode(_ program: CompiledProgram, key: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = [UInt8](try encoder.encode(Metadata(key: key, log: program.log, report: program.report)))
        var payload: [UInt8] = []
        payload.reserveCapacity(4 + json.count + program.cubin.count)
        appendLittleEndian(UInt32(json.count), to: &payload)
        payload += json
        payload += program.cubin

        var entry = magic
        entry.reserveCapacity(headerSize + payload.count)
        appendLittleEndian(UInt64(payload.count), to: &entry)
        entry += SHA256.hash(payload)
        entry += payload
        return entry
    }

    /// The program in an entry file, or nil unless magic, length, hash and key all check out.
    static func decode(entry: [UInt8], key: String) -> CompiledProgram? {
        guard entry.count >= headerSize, Array(entry[0..<8]) == magic else { return nil }
        let payloadLength = readLittleEndian(UInt64.self, entry, at: 8)
        guard payloadLength == UInt64(entry.count - headerSize) else { return nil }
        let payload = entry[headerSize...]
        guard SHA256.hash(payload) == Array(entry[16..<48]) else { return nil }

        guard payload.count >= 4 else { return nil }
        let jsonLength = Int(readLittleEndian(UInt32.self, entry, at: headerSize))
        let jsonStart = headerSize + 4
        guard jsonLength <= entry.count - jsonStart else { return nil }
        let jsonBytes = Data(entry[jsonStart..<jsonStart + jsonLength])
        guard let metadata = try? JSONDecoder().decode(Metadata.self, from: jsonBytes),
              metadata.key == key
        else { return nil }
        let cubin = Array(entry[(jsonStart + jsonLength)...])
        return CompiledProgram(cubin: cubin, log: metadata.log, report: metadata.report)
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        for index in 0..<(T.bitWidth / 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index)))
        }
    }

    private static func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for index in 0..<(T.bitWidth / 8) {
            value |= T(bytes[offset + index]) << (8 * index)
        }
        return value
    }
}

/// Feeds length-prefixed fields to SHA-256, so no two different field lists hash the same bytes.
private struct KeyEncoder {
    var hasher = SHA256()

    /// A UTF-8 string preceded by its byte count (UInt64, little endian).
    mutating func field(_ text: String) {
        let bytes = Array(text.utf8)
        number(UInt64(bytes.count))
        hasher.update(bytes)
    }

    /// A label and an element count, announcing a list of fields.
    mutating func count(_ label: String, _ value: Int) {
        field(label)
        number(UInt64(value))
    }

    private mutating func number(_ value: UInt64) {
        hasher.update((0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    }
}
