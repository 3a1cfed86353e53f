/// One sample of a Prometheus text exposition: `name{labels} value`.
public struct MetricSample: Equatable, Sendable {
    public var name: String
    public var labels: [String: String]
    public var value: Double

    public init(name: String, labels: [String: String], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}

/// A parsed `GET /metrics` answer: its samples, and the HELP and TYPE lines by family.
///
/// The text comes from a node, so it is read within bounds: at most `linesMax` lines and
/// `lineBytesMax` bytes a line are looked at; longer lines and lines past the bound are
/// skipped (`skippedLines` counts them), never an error and never unbounded memory.
public struct MetricsScrape: Sendable {
    /// Lines read at most from one answer (a node exposes about a thousand).
    public static let linesMax = 100_000
    /// A longer line is skipped.
    public static let lineBytesMax = 4_096

    public private(set) var samples: [MetricSample] = []
    public private(set) var help: [String: String] = [:]
    public private(set) var types: [String: String] = [:]
    /// Lines skipped for their length or for being past `linesMax`.
    public private(set) var skippedLines = 0

    public init(_ text: String) {
        var lineCount = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            lineCount += 1
            guard lineCount <= Self.linesMax, line.utf8.count <= Self.lineBytesMax else {
                skippedLines += 1
                continue
            }
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst("# HELP ".count)
                let name = rest.prefix { $0 != " " }
                help[String(name)] = String(rest.dropFirst(name.count).drop { $0 == " " })
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst("# TYPE ".count).split(separator: " ")
                if parts.count == 2 { types[String(parts[0])] = String(parts[1]) }
            } else if !line.hasPrefix("#"), let sample = Self.sample(line) {
                samples.append(sample)
            }
        }
    }

    /// `name{a="x",b="y"} 1.5`; nil for a line of another shape. Label values hold no `"` or
    /// `,` in WRaft's metrics; a value that does is read wrongly, not fatally.
    public static func sample(_ line: Substring) -> MetricSample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
        let series = line[..<space]
        guard let brace = series.firstIndex(of: "{") else { return MetricSample(name: String(series), labels: [:], value: value) }
        guard series.last == "}" else { return nil }
        var labels: [String: String] = [:]
        for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[1].count >= 2 else { return nil }
            labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        return MetricSample(name: String(series[..<brace]), labels: labels, value: value)
    }

    /// The value of an unlabeled series.
    public func value(_ name: String) -> Double? {
        samples.first { $0.name == name && $0.labels.isEmpty }?.value
    }

    /// The sum of a series over all its label sets; nil when no sample has the name.
    public func total(_ name: String) -> Double? {
        let matching = samples.lazy.filter { $0.name == name }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    /// The `le` bounds of a histogram family's buckets (any labels).
    public func bucketBounds(_ family: String) -> Set<Double> {
        Set(samples.filter { $0.name == family + "_bucket" }.compactMap { $0.labels["le"].flatMap(Double.init) })
    }
}
