// InputCheckedCommand: a command whose flags one typed check validates before it runs.
import ArgumentParser

/// A command whose flag values ``checkInputs()`` checks; ArgumentParser's validation step runs
/// it and reports its ``UsageError`` as a validation error (exit status 2).
protocol InputCheckedCommand: ParsableCommand {
    /// Every flag's value checked.
    /// - Throws: ``UsageError`` naming the first bad flag, what it must be and what it is.
    func checkInputs() throws(UsageError)
}

extension InputCheckedCommand {
    /// Rejects bad flag values, as ArgumentParser's validation errors (exit status 2).
    func validate() throws {
        do {
            try checkInputs()
        } catch {
            throw ValidationError(error.description)
        }
    }
}
