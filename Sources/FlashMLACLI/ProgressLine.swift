// ProgressLine: what a command is doing, on a terminal.
import Dispatch
import Foundation

/// A one-line status for long work (`compiling decode_seesaw.cu (3/5)… 12 s`), redrawn in place on
/// standard error once a second while it lasts, and only when standard error is a terminal:
/// piped or redirected, the status is never written, so logs hold only real lines (``note(_:)``).
final class ProgressLine: @unchecked Sendable {
    /// Whether the status is drawn at all.
    let enabled: Bool
    private let write: @Sendable (String) -> Void
    private let now: @Sendable () -> Double
    private let lock = NSLock()
    private var label: String?
    private var started = 0.0
    private var timer: (any DispatchSourceTimer)?

    /// Erases the current terminal line: carriage return, then "erase to end of line".
    static let clearLine = "\r\u{1B}[K"

    /// Whether standard error is a terminal.
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    /// A progress line.
    /// - Parameters:
    ///   - enabled: whether to draw it (default: when standard error is a terminal).
    ///   - ticking: whether a timer redraws it each second (tests call ``tick()`` themselves).
    ///   - write: where the text goes (default: standard error, unbuffered).
    ///   - now: the clock, in seconds.
    init(enabled: Bool = ProgressLine.standardErrorIsTerminal, ticking: Bool = true,
         write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) },
         now: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.enabled = enabled
        self.write = write
        self.now = now
        if enabled, ticking {
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { [weak self] in self?.tick() }
            timer.resume()
            self.timer = timer
        }
    }

    deinit { timer?.cancel() }

    /// Shows `label` with the seconds since now, replacing any status shown.
    func start(_ label: String) {
        guard enabled else { return }
        lock.withLock {
            self.label = label
            started = now()
            draw()
        }
    }

    /// Redraws the status with the elapsed seconds (the timer calls this each second).
    func tick() {
        guard enabled else { return }
        lock.withLock { draw() }
    }

    /// Clears the status.
    func finish() {
        guard enabled else { return }
        lock.withLock {
            if label != nil { write(Self.clearLine) }
            label = nil
        }
    }

    /// Writes `line` to standard error as a line of its own, keeping the status below it. Written
    /// whether or not the status is enabled.
    func note(_ line: String) {
        guard enabled else {
            write(line + "\n")
            return
        }
        lock.withLock {
            write((label == nil ? "" : Self.clearLine) + line + "\n")
            draw()
        }
    }

    /// `label… N s`, over the current line. Called with the lock held.
    private func draw() {
        guard let label else { return }
        let seconds = max(0, Int(now() - started))
        write(Self.clearLine + "\(label)… \(seconds) s")
    }
}
