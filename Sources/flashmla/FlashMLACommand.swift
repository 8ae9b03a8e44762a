import ArgumentParser

/// The `flashmla` command-line tool.
@main
struct FlashMLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flashmla",
        abstract: "MLA decode attention over a paged KV cache: FlashMLA in Swift.",
        subcommands: [InfoCommand.self, CompileCommand.self, CheckCommand.self, CheckDevicesCommand.self, BenchCommand.self]
    )
}
