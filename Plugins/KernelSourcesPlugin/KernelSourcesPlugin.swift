// KernelSourcesPlugin: the build-tool plugin that embeds Kernels/**.cu(h) as Swift string constants.
import Foundation
import PackagePlugin

/// Embeds the CUDA kernel sources of a target (every `.cu` and `.cuh` file under its
/// `Kernels/` folder) into a generated Swift file, so that the library carries its
/// kernels as string constants and needs no resource bundle beside the binary.
@main
struct KernelSourcesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let kernels = target.directoryURL.appending(path: "Kernels")
        let files = Self.kernelFiles(under: kernels)
        guard !files.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernelSources.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) kernel sources of \(target.name)",
                executable: try context.tool(named: "KernelEmbedder").url,
                arguments: [kernels.path(percentEncoded: false), output.path(percentEncoded: false)]
                    + files.map { $0.path(percentEncoded: false) },
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }

    static func kernelFiles(under root: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var found: [URL] = []
        for case let url as URL in walker where ["cu", "cuh"].contains(url.pathExtension) {
            found.append(url)
        }
        return found.sorted { $0.path < $1.path }
    }
}
