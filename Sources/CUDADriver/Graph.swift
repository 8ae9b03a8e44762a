// Graph: a CUDA graph captured from a stream, ready to replay.
/// A CUDA graph captured from a stream and instantiated, ready to replay.
///
/// ```swift
/// let graph = try Graph.capture(on: stream) { try enqueueWork(stream) }
/// try graph.launch(on: stream)
/// ```
/// Capture uses `CU_STREAM_CAPTURE_MODE_THREAD_LOCAL`: work queued on `stream` by this thread
/// during `body` is recorded, not run; anything that would synchronize with the stream fails.
public final class Graph: @unchecked Sendable {
    /// The device the graph runs on.
    public let device: Device
    private let graph: OpaquePointer?
    private let executable: OpaquePointer?

    private init(device: Device, graph: OpaquePointer?, executable: OpaquePointer?) {
        self.device = device
        self.graph = graph
        self.executable = executable
    }

    /// Records the work `body` queues on `stream` and instantiates it.
    public static func capture(on stream: Stream, _ body: () throws -> Void) throws -> Graph {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(stream.device)
        try driver.call(driver.symbols.cuStreamBeginCapture) { $0(stream.handle, 1) }
        var bodyError: (any Error)?
        do { try body() } catch { bodyError = error }
        var graph: OpaquePointer?
        let ended: Result<Void, CUDAError> = Result { () throws(CUDAError) in
            try driver.call(driver.symbols.cuStreamEndCapture) { $0(stream.handle, &graph) }
        }
        if let bodyError {
            if let graph { _ = try? driver.call(driver.symbols.cuGraphDestroy) { $0(graph) } }
            throw bodyError
        }
        try ended.get()
        var executable: OpaquePointer?
        do {
            try driver.call(driver.symbols.cuGraphInstantiateWithFlags) { $0(&executable, graph, 0) }
        } catch {
            _ = try? driver.call(driver.symbols.cuGraphDestroy) { $0(graph) }
            throw error
        }
        return Graph(device: stream.device, graph: graph, executable: executable)
    }

    /// Queues one replay of the graph on `stream`.
    public func launch(on stream: Stream) throws(CUDAError) {
        let driver = try CUDADriver.shared()
        try driver.makeCurrent(device)
        try driver.call(driver.symbols.cuGraphLaunch) { $0(executable, stream.handle) }
    }

    deinit {
        guard let driver = try? CUDADriver.shared() else { return }
        try? driver.makeCurrent(device)
        if let executable { _ = try? driver.call(driver.symbols.cuGraphExecDestroy) { $0(executable) } }
        if let graph { _ = try? driver.call(driver.symbols.cuGraphDestroy) { $0(graph) } }
    }
}
