// KernelMacros: a kernel source's integer macros, evaluated so the host's copies can be held equal.
import Foundation

/// The integer macros of a kernel source, evaluated the way the C preprocessor and compiler
/// would: enough to read the shared-memory sizes the kernels define and hold the host's copies
/// of them equal (object-like and function-like `#define`s whose bodies are integer arithmetic
/// with `+ - * /` and parentheses; `//` comments and line continuations are handled).
struct KernelMacros {
    private var objects: [String: String] = [:]
    private var functions: [String: (parameters: [String], body: String)] = [:]

    /// The macros defined in `sources`, in order (a later definition replaces an earlier one).
    init(_ sources: [String]) {
        for source in sources {
            let joined = source.replacingOccurrences(of: "\\\n", with: " ")
            for line in joined.split(separator: "\n") {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("#define ") else { continue }
                var rest = Substring(text.dropFirst("#define ".count))
                if let comment = rest.range(of: "//") { rest = rest[..<comment.lowerBound] }
                let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                rest = rest.dropFirst(name.count)
                if rest.first == "(", let close = rest.firstIndex(of: ")") {
                    let parameters = rest[rest.index(after: rest.startIndex)..<close]
                        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    functions[name] = (parameters, String(rest[rest.index(after: close)...]))
                } else {
                    objects[name] = String(rest)
                }
            }
        }
    }

    /// The value of `expression` (e.g. `"FMLA_SMEM(64, 2)"`), or nil when it is not integer
    /// arithmetic over known macros.
    func evaluate(_ expression: String) -> Int? {
        var parser = Parser(tokens: tokenize(expression), macros: self)
        guard let value = parser.sum(), parser.atEnd else { return nil }
        return value
    }

    private func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        for character in text {
            if character.isLetter || character.isNumber || character == "_" {
                current.append(character)
            } else {
                if !current.isEmpty { tokens.append(current); current = "" }
                if !character.isWhitespace { tokens.append(String(character)) }
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    private struct Parser {
        var tokens: [String]
        var position = 0
        let macros: KernelMacros
        var atEnd: Bool { position == tokens.count }

        init(tokens: [String], macros: KernelMacros) {
            self.tokens = tokens
            self.macros = macros
        }

        mutating func sum() -> Int? {
            guard var value = product() else { return nil }
            while position < tokens.count, tokens[position] == "+" || tokens[position] == "-" {
                let op = tokens[position]
                position += 1
                guard let rhs = product() else { return nil }
                value = op == "+" ? value + rhs : value - rhs
            }
            return value
        }

        mutating func product() -> Int? {
            guard var value = factor() else { return nil }
            while position < tokens.count, tokens[position] == "*" || tokens[position] == "/" {
                let op = tokens[position]
                position += 1
                guard let rhs = factor(), op == "*" || rhs != 0 else { return nil }
                value = op == "*" ? value * rhs : value / rhs
            }
            return value
        }

        mutating func factor() -> Int? {
            guard position < tokens.count else { return nil }
            let token = tokens[position]
            position += 1
            if token == "(" {
                guard let value = sum(), position < tokens.count, tokens[position] == ")" else { return nil }
                position += 1
                return value
            }
            if let number = Int(token) { return number }
            if let body = macros.objects[token] { return macros.evaluate(body) }
            if let function = macros.functions[token], position < tokens.count, tokens[position] == "(" {
                // Arguments: the token runs between the top-level commas, substituted textually.
                position += 1
                var arguments: [[String]] = [[]]
                var depth = 0
                while position < tokens.count {
                    let t = tokens[position]
                    position += 1
                    if t == ")" && depth == 0 { break }
                    if t == "(" { depth += 1 }
                    if t == ")" { depth -= 1 }
                    if t == "," && depth == 0 { arguments.append([]) } else { arguments[arguments.count - 1].append(t) }
                }
                guard arguments.count == function.parameters.count else { return nil }
                let body = macros.tokenize(function.body).flatMap { t -> [String] in
                    function.parameters.firstIndex(of: t).map { ["("] + arguments[$0] + [")"] } ?? [t]
                }
                return macros.evaluate(body.joined(separator: " "))
            }
            return nil
        }
    }
}
