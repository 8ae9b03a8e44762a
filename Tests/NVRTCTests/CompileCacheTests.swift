// Tests of CompileCache.
import Foundation
import Testing
@testable import NVRTC

@Suite struct CompileCacheTests {
    let request = CompileRequest(
        mainFile: "decode.cu",
        sources: [
            "decode.cu": "#include \"common/ptx.cuh\"\nextern \"C\" __global__ void k() {}\n",
            "common/ptx.cuh": "#pragma once\n",
        ],
        architecture: "sm_90a",
        options: ["-DBLOCK_M=64"])

    @Test func missThenHit() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url.appendingPathComponent("a/b/c"), packageVersion: "0.1.0")
        let compiler = FakeCompiler()

        let first = try cache.program(for: request, compiler: compiler)
        #expect(!first.cacheHit)
        #expect(first.program == FakeCompiler.expected(for: request))
        let second = try cache.program(for: request, compiler: compiler)
        #expect(second.cacheHit)
        #expect(second.program == first.program)
        #expect(second.program.report.kernel(named: "fake_kernel")?.registers == 42)
        #expect(compiler.calls.value == 1)

        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(files == [cache.key(for: request, compilerIdentity: compiler.identity) + ".cubin"])
    }

    @Test func keyCoversEveryInput() {
        let cache = CompileCache(directory: URL(fileURLWithPath: "/unused"), packageVersion: "0.1.0")
        let base = cache.key(for: request, compilerIdentity: "nvrtc 13.0")
        #expect(base.count == 64)
        #expect(base.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(cache.key(for: request, compilerIdentity: "nvrtc 13.0") == base)

        var variants: [String: String] = [:]
        func vary(_ label: String, _ change: (inout CompileRequest) -> Void) {
            var changed = request
            change(&changed)
            variants[label] = cache.key(for: changed, compilerIdentity: "nvrtc 13.0")
        }
        vary("main text") { $0.sources["decode.cu"]! += " " }
        vary("header text") { $0.sources["common/ptx.cuh"]! += "// x" }
        vary("header name") {
            $0.sources["common/ptx2.cuh"] = $0.sources.removeValue(forKey: "common/ptx.cuh")
        }
        vary("extra header") { $0.sources["extra.cuh"] = "" }
        vary("option value") { $0.options = ["-DBLOCK_M=32"] }
        vary("extra option") { $0.options.append("-DHEAD_DIM=576") }
        vary("no options") { $0.options = [] }
        vary("architecture") { $0.architecture = "sm_80" }
        vary("main file") {
            $0.sources["other.cu"] = $0.sources["decode.cu"]
            $0.mainFile = "other.cu"
        }
        variants["compiler identity"] = cache.key(for: request, compilerIdentity: "nvrtc 13.1")
        variants["package version"] = CompileCache(directory: cache.directory, packageVersion: "0.1.1")
            .key(for: request, compilerIdentity: "nvrtc 13.0")

        for (label, key) in variants {
            #expect(key != base, "changing the \(label) must change the key")
        }
        #expect(Set(variants.values).count == variants.count, "every change gives a different key")
    }

    @Test func keyEncodingIsUnambiguous() {
        let cache = CompileCache(directory: URL(fileURLWithPath: "/unused"), packageVersion: "1")
        func key(_ sources: [String: String], _ options: [String]) -> String {
            cache.key(for: CompileRequest(mainFile: "m", sources: sources, architecture: "sm_80", options: options),
                      compilerIdentity: "x")
        }
        #expect(key(["m": "ab", "n": "c"], []) != key(["m": "a", "n": "bc"], []))
        #expect(key(["m": ""], ["-DA", "-DB"]) != key(["m": ""], ["-DA-DB"]))
        #expect(key(["m": ""], ["", "x"]) != key(["m": ""], ["x", ""]))
    }

    @Test(arguments: ["flip payload byte", "flip hash byte", "flip length", "truncate", "header only", "empty"])
    func damagedEntryIsRebuilt(damage: String) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url, packageVersion: "0.1.0")
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        let key = cache.key(for: request, compilerIdentity: compiler.identity)
        let url = cache.entryURL(forKey: key)

        var bytes = [UInt8](try Data(contentsOf: url))
        switch damage {
        case "flip payload byte": bytes[bytes.count - 100] ^= 0x01
        case "flip hash byte": bytes[20] ^= 0x80
        case "flip length": bytes[8] ^= 0x01
        case "truncate": bytes.removeLast(10)
        case "header only": bytes = Array(bytes[0..<CompileCache.headerSize])
        default: bytes = []
        }
        try Data(bytes).write(to: url)
        #expect(cache.cachedProgram(forKey: key) == nil, "a damaged entry is never loaded")
        #expect(!FileManager.default.fileExists(atPath: url.path), "a damaged entry is removed")

        try Data(bytes).write(to: url)
        let rebuilt = try cache.program(for: request, compiler: compiler)
        #expect(!rebuilt.cacheHit)
        #expect(rebuilt.program == FakeCompiler.expected(for: request))
        #expect(compiler.calls.value == 2)
        #expect(cache.cachedProgram(forKey: key) == rebuilt.program, "the rebuilt entry is valid")
        #expect(try cache.program(for: request, compiler: compiler).cacheHit)
        #expect(compiler.calls.value == 2)
    }

    @Test func entryUnderAnotherKeyIsRejected() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url, packageVersion: "0.1.0")
        let compiler = FakeCompiler()
        _ = try cache.program(for: request, compiler: compiler)
        let key = cache.key(for: request, compilerIdentity: compiler.identity)
        let otherKey = String(repeating: "0", count: 64)
        try FileManager.default.copyItem(at: cache.entryURL(forKey: key), to: cache.entryURL(forKey: otherKey))
        #expect(cache.cachedProgram(forKey: otherKey) == nil)
        #expect(cache.cachedProgram(forKey: key) != nil)
    }

    @Test func concurrentWritersLeaveOneValidEntry() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url.appendingPathComponent("shared"), packageVersion: "0.1.0")
        let compiler = FakeCompiler(delay: 0.05)
        let expected = FakeCompiler.expected(for: request)

        let collected = LockedList<Result<CompiledProgram, NVRTCError>>()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let result = Result { () throws(NVRTCError) -> CompiledProgram in
                try cache.program(for: request, compiler: compiler).program
            }
            collected.append(result)
        }
        let results = collected.values

        #expect(results.count == 8)
        for result in results {
            #expect(try result.get() == expected)
        }
        #expect((1...8).contains(compiler.calls.value))
        let key = cache.key(for: request, compilerIdentity: compiler.identity)
        #expect(cache.cachedProgram(forKey: key) == expected)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(files == [key + ".cubin"], "no temporary files remain")
    }

    @Test func unwritableDirectoryStillCompiles() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        // A regular file where the cache folder's parent should be: no one, not even root, can create it.
        let blocker = folder.url.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let reported = LockedList<CacheProblem>()
        let cache = CompileCache(directory: blocker.appendingPathComponent("cache"), packageVersion: "0.1.0",
                                 reporter: CacheReporter { reported.append($0) })
        let compiler = FakeCompiler()

        let first = try cache.program(for: request, compiler: compiler)
        #expect(!first.cacheHit)
        #expect(first.program == FakeCompiler.expected(for: request))
        let second = try cache.program(for: request, compiler: compiler)
        #expect(!second.cacheHit)
        #expect(compiler.calls.value == 2)
        #expect(reported.values.count == 2, "every call reports; the default reporter keeps the first")
        #expect(reported.values.allSatisfy { if case .cannotCreate = $0 { true } else { false } })

        #expect(throws: NVRTCError.self) {
            try cache.store(first.program, forKey: cache.key(for: request, compilerIdentity: compiler.identity))
        }
    }

    @Test func compilerErrorsPassThrough() throws {
        struct FailingCompiler: CubinCompiler {
            var identity: String { "failing" }
            func compile(_ request: CompileRequest) throws(NVRTCError) -> CompiledProgram {
                throw .compilation(log: "main.cu(1): error: expected a \";\"")
            }
        }
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cache = CompileCache(directory: folder.url, packageVersion: "0.1.0")
        #expect(throws: NVRTCError.compilation(log: "main.cu(1): error: expected a \";\"")) {
            try cache.program(for: request, compiler: FailingCompiler())
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).isEmpty)
    }

    @Test func defaultDirectory() {
        #expect(CompileCache.defaultDirectory(environment: [
            "FLASHMLA_CACHE_DIR": "/tmp/explicit", "XDG_CACHE_HOME": "/tmp/xdg", "HOME": "/home/u",
        ]).path == "/tmp/explicit")
        #expect(CompileCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/tmp/xdg", "HOME": "/home/u"])
            .path == "/tmp/xdg/flashmla")
        #expect(CompileCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "", "HOME": "/home/u"])
            .path == "/home/u/.cache/flashmla")
    }
}
