import Foundation
import ArgumentParser

/// A duration on the command line: `60s`, `500ms`, `2m`, or a bare number of seconds.
struct DurationArgument: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    /// Bound on any duration given: a day.
    static let millisecondsMax = 86_400_000

    let milliseconds: Int

    init(milliseconds: Int) {
        self.milliseconds = milliseconds
    }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(suffix: String, factor: Double)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        var factor = 1_000.0
        var number = Substring(text)
        for unit in units where text.hasSuffix(unit.suffix) {
            factor = unit.factor
            number = text.dropLast(unit.suffix.count)
            break
        }
        guard let value = Double(number), value.isFinite, value > 0 else { return nil }
        let milliseconds = value * factor
        guard milliseconds >= 1, milliseconds <= Double(Self.millisecondsMax) else { return nil }
        self.milliseconds = Int(milliseconds)
    }

    var duration: Duration { .milliseconds(milliseconds) }

    var description: String {
        milliseconds % 1_000 == 0 ? "\(milliseconds / 1_000)s" : "\(milliseconds)ms"
    }
}
