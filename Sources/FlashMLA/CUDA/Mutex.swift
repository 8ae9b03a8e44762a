import Foundation

/// A lock around a critical section whose body may throw a typed error.
final class Mutex: @unchecked Sendable {
    private let lock = NSLock()

    func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
