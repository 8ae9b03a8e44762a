// LastError: the message of each thread's last failed C ABI call.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The message of the last failed call on each thread, as a C string owned by that thread.
///
/// A `pthread` key holds a `strdup` copy; it is replaced by the next failure on the same
/// thread and freed when the thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { value in free(value) }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// The text returned while nothing has failed on the calling thread.
    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = UnsafePointer(strdup("")!)

    /// Records `message` as the calling thread's last error.
    static func set(_ message: String) {
        let copy = strdup(message)
        if let old = pthread_getspecific(key) { free(old) }
        pthread_setspecific(key, copy)
    }

    /// The calling thread's last error, or "".
    static var current: UnsafePointer<CChar> {
        guard let value = pthread_getspecific(key) else { return empty }
        return UnsafePointer(value.assumingMemoryBound(to: CChar.self))
    }
}
