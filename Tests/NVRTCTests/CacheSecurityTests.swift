// Tests of the compile cache's ownership and permission checks.
import Foundation
import Testing
@testable import NVRTC

/// The compile cache loads code, so it must trust only what the current user alone can have written.
@Suite struct CacheSecurityTests {
    let request = CompileRequest(mainFile: "k.cu", sources: ["k.cu": "extern \"C\" __global__ void k() {}\n"],
                                 architecture: "sm_90a")

    /// A cache whose reporter records every problem.
    private func cache(_ url: URL, user: UInt32 = geteuid()) -> (CompileCache, LockedList<CacheProblem>) {
        let problems = LockedList<CacheProblem>()
        let cache = CompileCache(directory: url, packageVersion: "0.1.0",
                                 reporter: CacheReporter { problems.append($0) }, currentUser: user)
        return (cache, problems)
    }

    /// `lstat`'s mode of `url`: type and permission bits.
    private func mode(_ url: URL) -> UInt32 {
        var status = stat()
        #expect(lstat(url.path, &status) == 0, "lstat \(url.path)")
        return UInt32(status.st_mode)
    }

    private func chmod(_ url: URL, _ mode: mode_t) {
        #expect(Foundation.chmod(url.path, mode) == 0)
    }

    @Test func newFolderIs0700AndEntries0600() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("parent/cache")
        let (cache, problems) = cache(url)
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        #expect(mode(url) & 0o7777 == 0o700)
        #expect(mode(url.deletingLastPathComponent()) & 0o7777 == 0o700, "created parents are 0700 too")
        let entry = cache.entryURL(forKey: cache.key(for: request, compilerIdentity: compiler.identity))
        #expect(mode(entry) & 0o7777 == 0o600)
        #expect(mode(entry) & UInt32(S_IFMT) == UInt32(S_IFREG))
        #expect(try cache.program(for: request, compiler: compiler).cacheHit)
        #expect(problems.values.isEmpty)
    }

    @Test func entriesAre0600WhateverTheUmask() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (cache, _) = cache(folder.url.appendingPathComponent("c"))
        let old = umask(0o077)
        defer { umask(old) }
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        #expect(mode(cache.entryURL(forKey: cache.key(for: request, compilerIdentity: compiler.identity))) & 0o7777 == 0o600)
    }

    @Test(arguments: [0o777, 0o770, 0o722, 0o702] as [mode_t])
    func folderWritableByOthersIsRefused(permissions: mode_t) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("c")
        let (cache, problems) = cache(url)
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)  // a valid entry, while the folder was 0700
        chmod(url, permissions)

        let outcome = try cache.program(for: request, compiler: compiler)
        #expect(!outcome.cacheHit, "an entry in an untrusted folder is never loaded")
        #expect(outcome.program == FakeCompiler.expected(for: request), "the compile is done in memory")
        #expect(compiler.calls.value == 2)
        #expect(problems.values == [.untrustedFolder(path: url.path, reason: .writableByOthers(mode: UInt32(permissions)))])
        #expect(problems.values.first?.description.contains(CacheProblem.octal(UInt32(permissions))) == true)
        #expect(cache.cachedProgram(forKey: cache.key(for: request, compilerIdentity: compiler.identity)) == nil)
        #expect(throws: NVRTCError.self) {
            try cache.store(outcome.program, forKey: cache.key(for: request, compilerIdentity: compiler.identity))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path).count == 1, "nothing written")
        #expect(cache.folderProblem() != nil)
    }

    @Test func readOnlyForOthersIsTrusted() throws {
        // 0755 folders and 0644 entries (what earlier versions wrote) are not writable by others.
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("c")
        let (cache, problems) = cache(url)
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        chmod(url, 0o755)
        chmod(cache.entryURL(forKey: cache.key(for: request, compilerIdentity: compiler.identity)), 0o644)
        #expect(try cache.program(for: request, compiler: compiler).cacheHit)
        #expect(problems.values.isEmpty)
        #expect(cache.folderProblem() == nil)
    }

    @Test func entryWritableByOthersIsRefusedAndReplaced() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (cache, problems) = cache(folder.url)
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        let entry = cache.entryURL(forKey: cache.key(for: request, compilerIdentity: compiler.identity))
        chmod(entry, 0o666)

        let outcome = try cache.program(for: request, compiler: compiler)
        #expect(!outcome.cacheHit)
        #expect(outcome.program == FakeCompiler.expected(for: request))
        #expect(compiler.calls.value == 2)
        #expect(problems.values == [.untrustedEntry(path: entry.path, reason: .writableByOthers(mode: 0o666))])
        #expect(mode(entry) & 0o7777 == 0o600, "the entry was replaced by a trusted one")
        #expect(try cache.program(for: request, compiler: compiler).cacheHit)
        #expect(compiler.calls.value == 2)
    }

    @Test func symbolicLinkEntryIsNotFollowed() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (elsewhere, _) = cache(folder.url.appendingPathComponent("elsewhere"))
        let (cache, problems) = cache(folder.url.appendingPathComponent("cache"))
        let compiler = FakeCompiler()
        _ = try elsewhere.program(for: request, compiler: compiler)   // a valid entry someone links to
        _ = try cache.program(for: CompileRequest(mainFile: "x", sources: ["x": ""], architecture: "sm_80"),
                              compiler: compiler)                     // creates the folder
        let key = cache.key(for: request, compilerIdentity: compiler.identity)
        try FileManager.default.createSymbolicLink(at: cache.entryURL(forKey: key), withDestinationURL: elsewhere.entryURL(forKey: key))

        #expect(cache.cachedProgram(forKey: key) == nil, "a link is refused even to a valid entry")
        #expect(problems.values == [.untrustedEntry(path: cache.entryURL(forKey: key).path, reason: .symbolicLink)])
        let outcome = try cache.program(for: request, compiler: compiler)
        #expect(!outcome.cacheHit)
        #expect(mode(cache.entryURL(forKey: key)) & UInt32(S_IFMT) == UInt32(S_IFREG), "the link was replaced by a file")
        #expect(mode(elsewhere.entryURL(forKey: key)) & 0o7777 == 0o600, "the link's target is untouched")
    }

    @Test func folderOfAnotherUserIsRefused() throws {
        // Tests run as one user (often root), so the owner check is exercised with another current user.
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("c")
        let (mine, _) = cache(url)
        let compiler = FakeCompiler()
        _ = try mine.program(for: request, compiler: compiler)
        let stranger = geteuid() &+ 4242
        let (theirs, problems) = cache(url, user: stranger)

        let outcome = try theirs.program(for: request, compiler: compiler)
        #expect(!outcome.cacheHit)
        #expect(compiler.calls.value == 2)
        #expect(problems.values == [.untrustedFolder(path: url.path, reason: .owner(uid: geteuid(), currentUser: stranger))])
        #expect(problems.values.first?.description.contains("uid \(stranger)") == true)
    }

    @Test func distrustPredicate() {
        let me: UInt32 = 1000, folder = UInt32(S_IFDIR), file = UInt32(S_IFREG)
        #expect(CompileCache.distrust(mode: folder | 0o700, owner: me, currentUser: me, folder: true) == nil)
        #expect(CompileCache.distrust(mode: folder | 0o755, owner: me, currentUser: me, folder: true) == nil)
        #expect(CompileCache.distrust(mode: folder | 0o775, owner: me, currentUser: me, folder: true) == .writableByOthers(mode: 0o775))
        #expect(CompileCache.distrust(mode: folder | 0o1777, owner: me, currentUser: me, folder: true) == .writableByOthers(mode: 0o1777))
        #expect(CompileCache.distrust(mode: folder | 0o700, owner: 0, currentUser: me, folder: true) == .owner(uid: 0, currentUser: me))
        #expect(CompileCache.distrust(mode: file | 0o700, owner: me, currentUser: me, folder: true) == .wrongKind(expected: "a folder"))
        #expect(CompileCache.distrust(mode: file | 0o600, owner: me, currentUser: me, folder: false) == nil)
        #expect(CompileCache.distrust(mode: file | 0o620, owner: me, currentUser: me, folder: false) == .writableByOthers(mode: 0o620))
        #expect(CompileCache.distrust(mode: file | 0o600, owner: me + 1, currentUser: me, folder: false) == .owner(uid: me + 1, currentUser: me))
        #expect(CompileCache.distrust(mode: UInt32(S_IFLNK) | 0o777, owner: me, currentUser: me, folder: false) == .symbolicLink)
        #expect(CompileCache.distrust(mode: UInt32(S_IFIFO) | 0o600, owner: me, currentUser: me, folder: false) == .wrongKind(expected: "a regular file"))
    }

    @Test func regularFileAsCachePathIsReportedOnceAndCompilesWork() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("cache-is-a-file")
        try Data("x".utf8).write(to: file)
        let lines = LockedList<String>()
        let cache = CompileCache(directory: file, packageVersion: "0.1.0",
                                 reporter: .once(registry: ReportedProblems()) { lines.append($0) })
        let compiler = FakeCompiler()
        for _ in 0..<3 {
            let outcome = try cache.program(for: request, compiler: compiler)
            #expect(!outcome.cacheHit)
            #expect(outcome.program == FakeCompiler.expected(for: request))
        }
        #expect(compiler.calls.value == 3)
        #expect(lines.values.count == 1, "reported once: \(lines.values)")
        #expect(lines.values.first?.contains(file.path) == true)
        #expect(lines.values.first?.contains("expected a folder") == true)
        #expect(try Data(contentsOf: file) == Data("x".utf8), "the file is left alone")
    }

    @Test func uncreatableFolderIsReportedOnce() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let blocker = folder.url.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let url = blocker.appendingPathComponent("cache")
        let lines = LockedList<String>()
        let cache = CompileCache(directory: url, packageVersion: "0.1.0",
                                 reporter: .once(registry: ReportedProblems()) { lines.append($0) })
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        _ = try cache.program(for: request, compiler: compiler)
        #expect(compiler.calls.value == 2)
        #expect(lines.values.count == 1)
        #expect(lines.values.first?.contains("\(url.path): the folder cannot be created (Not a directory)") == true,
                "\(lines.values)")
    }

    @Test func registryCountsEachFolderAndKindOnce() {
        let registry = ReportedProblems()
        #expect(registry.insert(.notAFolder(path: "/a")))
        #expect(!registry.insert(.notAFolder(path: "/a")))
        #expect(registry.insert(.notAFolder(path: "/b")))
        #expect(registry.insert(.untrustedEntry(path: "/a/1.cubin", reason: .symbolicLink)))
        #expect(!registry.insert(.untrustedEntry(path: "/a/2.cubin", reason: .writableByOthers(mode: 0o666))))
        #expect(registry.insert(.cannotStore(path: "/a", reason: "disk full")))
    }

    @Test func parentFolder() {
        #expect(CacheFolder.parentFolder(of: "/a/b/c") == "/a/b")
        #expect(CacheFolder.parentFolder(of: "/a/b/") == "/a")
        #expect(CacheFolder.parentFolder(of: "/a") == "/")
        #expect(CacheFolder.parentFolder(of: "/") == nil)
        #expect(CacheFolder.parentFolder(of: "rel/x") == "rel")
        #expect(CacheFolder.parentFolder(of: "x") == nil)
    }
}
