// GridFile: reading a grid file, with one-line errors.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading a grid file and turning its decoding errors into one-line ``UsageError``s.
enum GridFile {
    /// The largest grid file read (a grid of the largest batches is a few megabytes).
    static let maxBytes = 256 << 20

    /// The bytes of the file at `path` (a regular file or a pipe such as `<(…)`).
    /// - Throws: ``UsageError`` naming `--grid`, the path and the reason: missing, unreadable, a
    ///   directory, or larger than ``maxBytes``.
    static func read(path: String) throws(UsageError) -> Data {
        func failure(_ reason: String) -> UsageError {
            UsageError("--grid", expected: "a readable JSON grid file", given: "\(path) (\(reason))")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure(String(cString: strerror(errno))) }
        if status.st_mode & S_IFMT == S_IFDIR { throw failure("a directory") }
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            if bytes.count > maxBytes { throw failure("larger than \(ByteText.format(maxBytes))") }
        }
        return Data(bytes)
    }

    /// Where `codingPath` (and `last`) point in a grid file: `configs[2].b`, empty for the top level.
    static func place(_ codingPath: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
        var text = ""
        for key in codingPath + (last.map { [$0] } ?? []) {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text
    }

    /// `path: place`, or `path` alone for the top level.
    private static func located(_ path: String, _ place: String) -> String {
        place.isEmpty ? path : "\(path): \(place)"
    }

    /// The one-line error for a grid file at `path` that does not decode, naming the place in the
    /// file (`configs[2].b`) and the reason.
    static func usageError(path: String, decoding error: any Error, data: Data? = nil) -> UsageError {
        if let unknown = error as? UnknownField {
            return UsageError(located(path, unknown.place), expected: "one of \(unknown.known.joined(separator: ", "))",
                              given: "unknown field \"\(unknown.field)\"")
        }
        guard let error = error as? DecodingError else {
            return UsageError(path, expected: "a JSON grid file", given: "\(error)")
        }
        switch error {
        case let .keyNotFound(key, context):
            let why = context.debugDescription.hasPrefix("No value associated") ? "a value" : context.debugDescription
            return UsageError(located(path, place(context.codingPath, key)), expected: why, given: "nothing")
        case let .typeMismatch(type, context):
            return UsageError(located(path, place(context.codingPath)), expected: typeName(type),
                              given: foundType(context.debugDescription))
        case let .valueNotFound(type, context):
            return UsageError(located(path, place(context.codingPath)), expected: typeName(type), given: "null")
        case let .dataCorrupted(context):
            // JSONDecoder says only "not valid JSON", for bad syntax and for a number that is not
            // an Int alike; JSONSerialization tells where the syntax breaks, and a walk of the
            // parsed file which integer field holds what.
            if let data {
                do {
                    let object = try JSONSerialization.jsonObject(with: data)
                    if let (where_, value) = firstNonInteger(in: object) {
                        return UsageError(located(path, where_), expected: "an integer", given: value)
                    }
                } catch {
                    let detail = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
                    return UsageError(path, expected: "valid JSON", given: detail)
                }
            }
            var reason = context.debugDescription
            if let underlying = context.underlyingError { reason += " " + String(describing: underlying) }
            return UsageError(located(path, place(context.codingPath)), expected: "valid JSON in the grid format",
                              given: reason)
        @unknown default:
            return UsageError(path, expected: "a JSON grid file", given: "\(error)")
        }
    }

    /// The integer fields of a configuration.
    private static let integerFields = ["b", "s_q", "mean_sk", "h_q", "h_kv", "d", "dv", "page_block_size", "topk", "topk_length"]

    /// The first integer field of a parsed grid whose value is a number but not an `Int`
    /// (`1.5`, `1e30`), with that value as text.
    static func firstNonInteger(in object: Any) -> (String, String)? {
        guard let configs = (object as? [String: Any])?["configs"] as? [Any] else { return nil }
        func bad(_ value: Any) -> String? {
            guard let number = value as? NSNumber, !(value is Bool) else { return nil }
            return Int(exactly: number.doubleValue) == nil || number.doubleValue >= 0x1p63 ? "\(number)" : nil
        }
        for (index, config) in configs.enumerated() {
            guard let fields = config as? [String: Any] else { continue }
            for key in integerFields {
                if let value = fields[key], let text = bad(value) { return ("configs[\(index)].\(key)", text) }
            }
            for list in ["cache_seqlens", "topk_length"] {
                for (position, value) in ((fields[list] as? [Any]) ?? []).enumerated() {
                    if let text = bad(value) { return ("configs[\(index)].\(list)[\(position)]", text) }
                }
            }
        }
        return nil
    }

    /// `a string` from `Expected to decode Int but found a string instead.`
    private static func foundType(_ description: String) -> String {
        guard let found = description.range(of: "but found ") else { return description }
        var rest = String(description[found.upperBound...])
        if rest.hasSuffix(" instead.") { rest.removeLast(" instead.".count) }
        return rest
    }

    /// How a grid file spells a Swift type.
    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is [Int].Type: "a list of integers"
        case is Double.Type: "a number"
        case is BenchConfig.TopkLength.Type: "an integer (every request) or a list of integers (one per request)"
        default: "\(type)"
        }
    }
}

/// A JSON object key that the grid format does not know: a misspelt field (`"h-kv"`) is an error
/// rather than a silent default.
struct UnknownField: Error, Equatable {
    /// Where the object is (`configs[3]`; empty for the top level).
    var place: String
    /// The unknown key.
    var field: String
    /// The keys allowed there.
    var known: [String]

    /// A key with no name: enough to list an object's keys.
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Throws an `UnknownField` when the object at `decoder` has a key not in `known` (the first
    /// in sorted order).
    static func reject(in decoder: any Decoder, known: [String]) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let allowed = Set(known)
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !allowed.contains($0) }) {
            throw UnknownField(place: GridFile.place(decoder.codingPath), field: unknown, known: known)
        }
    }
}
