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
        subcommands: [InfoCommand.self, CompileCommand.self, CheckCommand.self, CheckDevicesCommand.self, BenchCommand.self,
                      TuneCommand.self]
    )

    /// Runs the tool. Its checks compare runs bit for bit and its benchmarks time kernels, so
    /// both use the optimized kernels from the first call: `FLASHMLA_COMPILE` defaults to
    /// `optimized` here (a value set in the environment, such as `quick` to check the quick
    /// builds, is kept).
    static func main() {
        setenv("FLASHMLA_COMPILE", "optimized", 0)
        main(nil)
    }
}
