// MemoryLimit (the `--memory-limit-gib` flag) and ChartFile.
import Foundation

/// The `--memory-limit-gib` flag of `bench` and `check`.
enum MemoryLimit {
    /// The largest limit accepted, 1 PiB (so that sums of tensor sizes below it cannot overflow).
    static let maxGiB = 1 << 20

    /// Throws unless `gib` is in 1…``maxGiB``.
    static func validate(_ gib: Int) throws(UsageError) {
        guard (1...maxGiB).contains(gib) else {
            throw UsageError("--memory-limit-gib", expected: "1…\(maxGiB)", given: "\(gib)")
        }
    }
}

/// The `--chart` flag of `bench`.
enum ChartFile {
    /// Throws unless `path` names a file in an existing folder and is not itself a folder, so a
    /// long run does not end in a chart it cannot write.
    static func validate(path: String) throws(UsageError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw UsageError("--chart", expected: "an SVG file to write", given: "\(path) (a directory)")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw UsageError("--chart", expected: "a file in an existing folder", given: "\(path) (no folder \(folder))")
        }
    }
}
