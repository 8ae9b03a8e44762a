// CompileRequest: what one NVRTC compile is asked to do.
/// One translation unit to compile to a cubin, together with every header it includes.
public struct CompileRequest: Sendable, Hashable {
    /// The name of the translation unit, a key of `sources` (for example `"decode.cu"`).
    public var mainFile: String
    /// File name → source text. Every file other than `mainFile` is handed to NVRTC as a header
    /// under its name, so `#include "common/ptx.cuh"` resolves without any include path.
    public var sources: [String: String]
    /// The real GPU architecture to build for, such as `"sm_90a"` or `"sm_80"` (never `compute_…`).
    public var architecture: String
    /// Extra NVRTC options, such as `"-DBLOCK_M=64"`, appended after the compiler's fixed options.
    public var options: [String]

    /// Creates a request; see the properties for the meaning of each argument.
    public init(mainFile: String, sources: [String: String], architecture: String, options: [String] = []) {
        self.mainFile = mainFile
        self.sources = sources
        self.architecture = architecture
        self.options = options
    }

    /// The names of the files passed to NVRTC as headers: all sources except `mainFile`, sorted.
    public var headerNames: [String] {
        sources.keys.filter { $0 != mainFile }.sorted()
    }
}
