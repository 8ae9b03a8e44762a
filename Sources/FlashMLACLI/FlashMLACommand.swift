// FlashMLACommand: the `flashmla` command-line tool's root command.
import ArgumentParser
import FlashMLA
import Foundation

/// The `flashmla` command-line tool.
@main
struct FlashMLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flashmla",
        abstract: "MLA decode attention over a paged KV cache: FlashMLA in Swift.",
        discussion: "Exit status: 0 on success, 1 when a run fails, 2 for a bad flag, value or grid file.",
        version: FlashMLAVersion.string,
        subcommands: [InfoCommand.self, CompileCommand.self, CheckCommand.self, CheckSparseCommand.self, CheckDevicesCommand.self, BenchCommand.self,
                      TuneCommand.self]
    )

    /// Parses the command line, runs the command and exits with ``Termination``'s status. Its
    /// checks compare runs bit for bit and its benchmarks time kernels, so both run the chosen
    /// kernel from the first call, never a cold-start substitute: `FLASHMLA_COLD_START` defaults
    /// to `wait` here (a value set in the environment is kept).
    static func main() {
        setenv("FLASHMLA_COLD_START", "wait", 0)
        Foundation.exit(execute(Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses `arguments`, runs the command they name and returns the exit status, having printed
    /// the error (if any) as ``Termination`` describes it.
    static func execute(_ arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch {
            let ending = Termination(for: error)
            if !ending.message.isEmpty {
                if ending.toStandardOutput {
                    print(ending.message)
                } else {
                    StandardError.line(ending.message)
                }
            }
            return ending.status
        }
    }
}
