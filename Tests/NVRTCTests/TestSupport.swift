// Support for the NVRTC tests: a fake compiler, temporary folders, counters.
import Foundation
@testable import NVRTC

/// A thread-safe counter shared between a fake compiler and its test.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var value: Int { lock.withLock { count } }

    func increment() {
        lock.withLock { count += 1 }
    }
}

/// A compiler that never runs NVRTC: it counts its calls and returns bytes derived from the request.
struct FakeCompiler: CubinCompiler {
    var identity = "fake 1.0"
    let calls = CallCounter()
    /// How long each compile takes, to widen race windows.
    var delay: TimeInterval = 0

    func compile(_ request: CompileRequest) throws(NVRTCError) -> CompiledProgram {
        calls.increment()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        return Self.expected(for: request)
    }

    /// What `compile` returns for `request`: an ELF-looking header and 4 KiB of request-dependent bytes.
    static func expected(for request: CompileRequest) -> CompiledProgram {
        let seed = SHA256.hash(Array("\(request.mainFile)|\(request.sources.sorted { $0.key < $1.key })|\(request.architecture)|\(request.options)".utf8))
        var cubin: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
        for index in 0..<4096 { cubin.append(seed[index % 32] &+ UInt8(truncatingIfNeeded: index)) }
        let log = "ptxas info    : Compiling entry function 'fake_kernel' for '\(request.architecture)'\n"
            + "ptxas info    : Used 42 registers, used 1 barriers, 1024 bytes smem\n"
        return CompiledProgram(cubin: cubin, log: log, report: PtxasReport.parse(log))
    }
}

/// A fresh, empty temporary folder that removes itself when the test calls `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("nvrtc-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// An array that several threads may append to.
final class LockedList<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var elements: [Element] = []

    var values: [Element] { lock.withLock { elements } }

    func append(_ element: Element) {
        lock.withLock { elements.append(element) }
    }
}
