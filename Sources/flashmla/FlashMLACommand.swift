import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// The `flashmla` command-line tool.
@main
struct FlashMLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flashmla",
        abstract: "MLA decode attention over a paged KV cache: FlashMLA in Swift.",
        subcommands: [InfoCommand.self, CompileCommand.self, CheckCommand.self, CheckSparseCommand.self, CheckDevicesCommand.self, BenchCommand.self,
                      TuneCommand.self]
    )

    /// Runs the tool. Its checks compare runs bit for bit and its benchmarks time kernels, so
    /// both run the chosen kernel from the first call, never a cold-start substitute:
    /// `FLASHMLA_COLD_START` defaults to `wait` here (a value set in the environment is kept).
    static func main() {
        setenv("FLASHMLA_COLD_START", "wait", 0)
        main(nil)
    }
}
