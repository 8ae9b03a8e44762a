// UsageError: a bad flag, value or grid file, as a one-line error.
/// A bad command-line input: a flag's value, a grid file or one of its fields. The tool prints it
/// on one line and exits with status 2 (``Termination/usageStatus``).
struct UsageError: Error, Equatable, CustomStringConvertible {
    /// What was wrong: a flag such as `--cases`, or a place in a grid file such as
    /// `grid.json: configs[2].b`.
    var field: String
    /// What the field must be.
    var expected: String
    /// What it was.
    var given: String

    /// An error about `field`, which had to be `expected` and was `given`.
    init(_ field: String, expected: String, given: String) {
        self.field = field
        self.expected = expected
        self.given = given
    }

    /// `field: expected …, given …`, on one line.
    var description: String {
        "\(field): expected \(expected), given \(given)".replacingNewlines()
    }
}

extension String {
    /// The text with every line break replaced by a space, so that a message stays on one line.
    func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
