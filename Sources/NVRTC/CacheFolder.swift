// CacheFolder: an open, checked compile-cache folder, read and written through its descriptor.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open, checked compile-cache folder: every entry is reached through its descriptor, so what
/// was checked is what is read and written, whatever happens to the path meanwhile.
final class CacheFolder {
    /// The folder's path, for messages.
    let path: String
    private let descriptor: Int32
    private let currentUser: UInt32

    private init(path: String, descriptor: Int32, currentUser: UInt32) {
        self.path = path
        self.descriptor = descriptor
        self.currentUser = currentUser
    }

    deinit { close(descriptor) }

    /// Opens the folder at `path` (creating it and missing parents with mode 0700 when `create`)
    /// and checks that `currentUser` can trust it.
    /// - Returns: the folder; nil when it is missing and not to be created; a problem when it is
    ///   not a folder, cannot be created or opened, or is not trusted.
    static func acquire(_ path: String, create: Bool, currentUser: UInt32) -> Result<CacheFolder?, CacheProblem> {
        if create, let failure = makeFolders(path) {
            // EEXIST: the path itself is a file; anything else (ENOTDIR: a parent is a file;
            // EACCES, EROFS) means it cannot be created.
            return .failure(failure == EEXIST ? .notAFolder(path: path) : .cannotCreate(path: path, reason: reason(failure)))
        }
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let failure = errno
            if failure == ENOENT, !create { return .success(nil) }
            if failure == ENOTDIR { return .failure(.notAFolder(path: path)) }
            return .failure(.cannotOpen(path: path, reason: reason(failure)))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let failure = errno
            close(descriptor)
            return .failure(.cannotOpen(path: path, reason: reason(failure)))
        }
        if let distrust = CompileCache.distrust(mode: UInt32(status.st_mode), owner: UInt32(status.st_uid),
                                                currentUser: currentUser, folder: true) {
            close(descriptor)
            return .failure(.untrustedFolder(path: path, reason: distrust))
        }
        return .success(CacheFolder(path: path, descriptor: descriptor, currentUser: currentUser))
    }

    /// The bytes of entry `name`; nil when there is none; a problem when it is not trusted (a
    /// symbolic link, not a regular file, another owner, writable by group or others).
    func entryBytes(_ name: String) -> Result<[UInt8]?, CacheProblem> {
        let entryPath = path + "/" + name
        // O_NONBLOCK: a FIFO planted under the entry's name must not hang the open.
        let file = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard file >= 0 else {
            if errno == ELOOP { return .failure(.untrustedEntry(path: entryPath, reason: .symbolicLink)) }
            return .success(nil)
        }
        defer { close(file) }
        var status = stat()
        guard fstat(file, &status) == 0 else { return .success(nil) }
        if let distrust = CompileCache.distrust(mode: UInt32(status.st_mode), owner: UInt32(status.st_uid),
                                                currentUser: currentUser, folder: false) {
            return .failure(.untrustedEntry(path: entryPath, reason: distrust))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return count == 0 ? .success(bytes) : .success(nil) }
            bytes += chunk[0..<count]
        }
    }

    /// Removes entry `name` (a corrupt one), ignoring failures.
    func remove(_ name: String) {
        _ = unlinkat(descriptor, name, 0)
    }

    /// Writes `bytes` to a new file `temporary` (mode 0600, never through a link) and renames it
    /// over `final`, so readers see no entry or a whole one.
    func writeAtomically(_ bytes: [UInt8], temporary: String, final: String) -> Result<Void, CacheProblem> {
        func failure(_ what: String) -> Result<Void, CacheProblem> {
            let text = reason(errno)
            _ = unlinkat(descriptor, temporary, 0)
            return .failure(.cannotStore(path: path, reason: "\(what): \(text)"))
        }
        let file = openat(descriptor, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard file >= 0 else { return .failure(.cannotStore(path: path, reason: "creating \(temporary): \(reason(errno))")) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                close(file)
                return failure("writing \(temporary)")
            }
            offset += written
        }
        // Exactly 0600 whatever the umask.
        guard fchmod(file, 0o600) == 0, close(file) == 0 else { return failure("closing \(temporary)") }
        guard renameat(descriptor, temporary, descriptor, final) == 0 else { return failure("renaming \(temporary) to \(final)") }
        return .success(())
    }

    /// Creates `path` and its missing parents with mode 0700; nil on success (or when it exists),
    /// else the `errno` of the failure.
    private static func makeFolders(_ path: String) -> Int32? {
        if mkdir(path, 0o700) == 0 { return nil }
        let failure = errno
        if failure == EEXIST {
            var status = stat()
            // Existing: fine if it is a folder (or a link to one); a file is reported by the caller.
            return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR ? nil : EEXIST
        }
        guard failure == ENOENT, let parent = parentFolder(of: path) else { return failure }
        if let parentFailure = makeFolders(parent) { return parentFailure }
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return nil }
        return errno
    }

    /// The folder holding `path` (`/a/b/` → `/a`), or nil for `/` and a bare name.
    static func parentFolder(of path: String) -> String? {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return nil }
        let parent = trimmed[..<slash]
        if parent.isEmpty { return trimmed == "/" ? nil : "/" }
        return String(parent)
    }

    private static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
    private func reason(_ code: Int32) -> String { Self.reason(code) }
}
