// Termination: how a command ends, and its exit status.
import ArgumentParser

/// How the tool ends after an error: the exit status and the text to print.
///
/// Usage errors (a bad flag, a bad value, a bad grid file: ArgumentParser's parse and validation
/// errors and ``UsageError``) exit with 2; failures while running (no GPU, a kernel that fails,
/// a check that does not pass) with 1; `--help` and `--version` print their text and exit 0.
struct Termination: Equatable {
    /// The exit status of a usage error.
    static let usageStatus: Int32 = 2
    /// The exit status of a failure while running.
    static let failureStatus: Int32 = 1

    /// The process's exit status.
    var status: Int32
    /// What to print (empty: nothing; the command already said why).
    var message: String
    /// Whether the message goes to standard output (help and version) rather than standard error.
    var toStandardOutput: Bool

    /// The ending for `error`, thrown while parsing or running `command`.
    init(for error: any Error, command: any ParsableCommand.Type = FlashMLACommand.self) {
        if let usage = error as? UsageError {
            self.init(status: Self.usageStatus, message: "error: \(usage.description)", toStandardOutput: false)
            return
        }
        if let code = error as? ExitCode {
            self.init(status: code.rawValue, message: "", toStandardOutput: false)
            return
        }
        let parserCode = command.exitCode(for: error)
        if parserCode == .success {
            self.init(status: 0, message: command.fullMessage(for: error), toStandardOutput: true)
        } else if parserCode == .validationFailure {
            let text = command.message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            self.init(status: Self.usageStatus, message: "error: \(text.replacingNewlines())", toStandardOutput: false)
        } else {
            self.init(status: Self.failureStatus, message: "error: \(String(describing: error))", toStandardOutput: false)
        }
    }

    /// A termination with these parts.
    init(status: Int32, message: String, toStandardOutput: Bool) {
        self.status = status
        self.message = message
        self.toStandardOutput = toStandardOutput
    }
}
