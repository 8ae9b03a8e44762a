// CacheProblem: why the compile cache is not used, and how that is reported.
import Synchronization

/// Why the compile cache, or one of its entries, is not used. The cache is a code-loading path
/// (a cubin read from it runs on the GPU), so it is trusted only when no one but the current
/// user can have written it: its folder and entries must be owned by the user and not writable
/// by group or others, and an entry must be a regular file, not a symbolic link.
///
/// Nothing fails because of these: the program is compiled in memory instead and the problem
/// reported (``CacheReporter``).
public enum CacheProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The cache path exists and is not a folder (a regular file, say).
    case notAFolder(path: String)
    /// The folder is missing and cannot be created; `reason` is the system's.
    case cannotCreate(path: String, reason: String)
    /// The folder exists and cannot be opened; `reason` is the system's.
    case cannotOpen(path: String, reason: String)
    /// The folder exists and is not safe to load code from.
    case untrustedFolder(path: String, reason: Distrust)
    /// An entry exists and is not safe to load code from.
    case untrustedEntry(path: String, reason: Distrust)
    /// A new entry could not be written; `reason` says where and why.
    case cannotStore(path: String, reason: String)

    /// What makes a file untrusted.
    public enum Distrust: Equatable, Sendable {
        /// Group or others may write it; `mode` is its permission bits.
        case writableByOthers(mode: UInt32)
        /// Another user owns it.
        case owner(uid: UInt32, currentUser: UInt32)
        /// It is a symbolic link (entries are opened without following links).
        case symbolicLink
        /// It is not of the expected kind (a folder, or a regular file for an entry).
        case wrongKind(expected: String)
    }

    /// The path concerned.
    public var path: String {
        switch self {
        case let .notAFolder(path), let .cannotCreate(path, _), let .cannotOpen(path, _),
             let .untrustedFolder(path, _), let .untrustedEntry(path, _), let .cannotStore(path, _):
            path
        }
    }

    /// One line: the path, what was expected and what was found, and what happens instead.
    public var description: String {
        let instead = "kernels are compiled in memory instead"
        switch self {
        case let .notAFolder(path):
            return "compile cache \(path): expected a folder, found another kind of file; \(instead) "
                + "(set FLASHMLA_CACHE_DIR to a folder)"
        case let .cannotCreate(path, reason):
            return "compile cache \(path): the folder cannot be created (\(reason)); \(instead)"
        case let .cannotOpen(path, reason):
            return "compile cache \(path): the folder cannot be opened (\(reason)); \(instead)"
        case let .untrustedFolder(path, reason):
            return "compile cache \(path): not used, \(Self.explain(reason, folder: true)); \(instead)"
                + Self.fix(reason, path: path, folder: true)
        case let .untrustedEntry(path, reason):
            return "compile cache entry \(path): not loaded, \(Self.explain(reason, folder: false)); "
                + "compiled in memory and replaced"
        case let .cannotStore(path, reason):
            return "compile cache \(path): cannot store a compiled program (\(reason)); it is compiled again next time"
        }
    }

    private static func explain(_ reason: Distrust, folder: Bool) -> String {
        switch reason {
        case let .writableByOthers(mode):
            return "expected no write permission for group or others (such as mode \(folder ? "0700" : "0600")), "
                + "given mode \(octal(mode))"
        case let .owner(uid, currentUser):
            return "expected owner uid \(currentUser) (the current user), given uid \(uid)"
        case .symbolicLink:
            return "expected a regular file, given a symbolic link"
        case let .wrongKind(expected):
            return "expected \(expected), given another kind of file"
        }
    }

    private static func fix(_ reason: Distrust, path: String, folder: Bool) -> String {
        switch reason {
        case .writableByOthers: " (fix: chmod \(folder ? "700" : "600") \(path))"
        case .owner: " (fix: set FLASHMLA_CACHE_DIR to a folder of your own)"
        case .symbolicLink, .wrongKind: ""
        }
    }

    /// `mode`'s permission bits in octal, e.g. `0777`.
    static func octal(_ mode: UInt32) -> String {
        let text = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}

/// Where the compile cache reports its problems. ``standardError`` (the default) writes each
/// problem of a cache folder to standard error once per process: a run that compiles several
/// kernels against an unusable cache says so once, not once per kernel.
public struct CacheReporter: Sendable {
    private let receive: @Sendable (CacheProblem) -> Void

    /// A reporter that hands every problem to `receive`.
    public init(_ receive: @escaping @Sendable (CacheProblem) -> Void) {
        self.receive = receive
    }

    /// Reports `problem`.
    public func report(_ problem: CacheProblem) { receive(problem) }

    /// A reporter that passes on to `write` only the first problem of each kind per folder that
    /// `registry` has not yet seen.
    public static func once(registry: ReportedProblems, write: @escaping @Sendable (String) -> Void) -> CacheReporter {
        CacheReporter { problem in
            if registry.insert(problem) { write(problem.description) }
        }
    }

    /// The process's reporter: once per folder and kind of problem, on standard error.
    public static let standardError = CacheReporter.once(registry: ReportedProblems.process) { line in
        StandardErrorLine.line("flashmla: warning: \(line)")
    }
}

/// The problems already reported: a folder's problem, or any problem with its entries, counts once.
public final class ReportedProblems: Sendable {
    private let seen = Mutex<Set<String>>([])

    /// An empty registry.
    public init() {}

    /// The registry of this process.
    public static let process = ReportedProblems()

    /// Records `problem`; true when nothing of its kind for its folder was recorded before.
    public func insert(_ problem: CacheProblem) -> Bool {
        let key: String
        switch problem {
        case let .untrustedEntry(path, _): key = "entry " + Self.folder(of: path)
        case let .cannotStore(path, _): key = "store " + path
        default: key = "folder " + problem.path
        }
        return seen.withLock { $0.insert(key).inserted }
    }

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
