#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import WRaftSupport

/// The process's own resource use, read from `/proc/self` at each scrape (Linux; elsewhere the
/// families are absent) and written in the Prometheus text format after the registry's metrics.
/// Every read is bounded; a file that cannot be read or parsed leaves its metrics out of the
/// scrape: it never fails the scrape or stops the node.
public struct ProcessMetrics: Sendable, Equatable {
    public var cpuSeconds: Double?
    public var residentMemoryBytes: Int?
    public var openFileDescriptors: Int?
    public var fileDescriptorsMax: Int?
    /// Seconds since the Unix epoch.
    public var startTimeSeconds: Double?

    public init(
        cpuSeconds: Double? = nil, residentMemoryBytes: Int? = nil, openFileDescriptors: Int? = nil,
        fileDescriptorsMax: Int? = nil, startTimeSeconds: Double? = nil
    ) {
        self.cpuSeconds = cpuSeconds
        self.residentMemoryBytes = residentMemoryBytes
        self.openFileDescriptors = openFileDescriptors
        self.fileDescriptorsMax = fileDescriptorsMax
        self.startTimeSeconds = startTimeSeconds
    }

    static let cpuFamily = MetricDescription(
        "process_cpu_seconds_total", .counter, help: "CPU time (user and system) this process has used, in seconds.")
    static let residentMemoryFamily = MetricDescription(
        "process_resident_memory_bytes", .gauge, help: "Bytes of this process's memory resident in RAM.")
    static let openFDsFamily = MetricDescription(
        "process_open_fds", .gauge, help: "File descriptors this process has open (files, sockets, pipes).")
    static let maxFDsFamily = MetricDescription(
        "process_max_fds", .gauge, help: "The soft limit on this process's open file descriptors.")
    static let startTimeFamily = MetricDescription(
        "process_start_time_seconds", .gauge, help: "When this process started, in seconds since the Unix epoch.")

    /// The families above, for Docs/METRICS.md and the tests.
    public static let descriptions = [cpuFamily, residentMemoryFamily, openFDsFamily, maxFDsFamily, startTimeFamily]

    /// The most bytes read from one `/proc` file (`/proc/stat` grows with the CPU count).
    static let procFileBytesMax = 256 << 10
    /// The most entries of `/proc/self/fd` counted; past it the count is left out.
    static let fdEntriesMax = 1 << 20

    // MARK: Exposition

    /// The present metrics in the Prometheus text format (HELP, TYPE and value per family).
    public var exposition: String {
        var text = ""
        func family(_ description: MetricDescription, _ value: String?) {
            guard let value else { return }
            text += "# HELP \(description.name) \(description.help)\n"
            text += "# TYPE \(description.name) \(description.kind.rawValue)\n"
            text += "\(description.name) \(value)\n"
        }
        family(Self.cpuFamily, cpuSeconds.map { "\($0)" })
        family(Self.residentMemoryFamily, residentMemoryBytes.map { "\($0)" })
        family(Self.openFDsFamily, openFileDescriptors.map { "\($0)" })
        family(Self.maxFDsFamily, fileDescriptorsMax.map { "\($0)" })
        family(Self.startTimeFamily, startTimeSeconds.map { "\($0)" })
        return text
    }

    // MARK: Parsing (pure, tested on text)

    /// The fields of `/proc/self/stat` after the command name: `fields[0]` is field 3 (state).
    /// The name sits in parentheses and may hold spaces and parentheses itself, so the fields
    /// start after the last `)`.
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        return fields.count >= 20 ? fields : nil
    }

    /// CPU seconds (utime + stime, fields 14 and 15) from `/proc/self/stat`.
    static func cpuSeconds(stat text: String, ticksPerSecond: Int) -> Double? {
        guard ticksPerSecond > 0, let fields = statFields(text),
            let user = UInt64(fields[11]), let system = UInt64(fields[12])
        else { return nil }
        let (ticks, overflow) = user.addingReportingOverflow(system)
        guard !overflow else { return nil }
        return Double(ticks) / Double(ticksPerSecond)
    }

    /// The start time in seconds since the epoch: the boot time (`btime` of `/proc/stat`) plus
    /// field 22 of `/proc/self/stat` (ticks after boot).
    static func startTimeSeconds(stat text: String, procStat: String, ticksPerSecond: Int) -> Double? {
        guard ticksPerSecond > 0, let fields = statFields(text), let startTicks = UInt64(fields[19]) else { return nil }
        guard let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let bootSeconds = UInt64(line.dropFirst("btime ".count).trimmingSpaces)
        else { return nil }
        return Double(bootSeconds) + Double(startTicks) / Double(ticksPerSecond)
    }

    /// Resident bytes from `/proc/self/statm` (its second field, in pages).
    static func residentBytes(statm text: String, pageBytes: Int) -> Int? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard pageBytes > 0, fields.count >= 2, let pages = Int(fields[1].trimmingSpaces), pages >= 0 else { return nil }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageBytes)
        return overflow ? nil : bytes
    }

    // MARK: Reading

    /// Reads what it can now; what fails stays nil.
    public static func read() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        #if os(Linux)
        let ticks = Int(sysconf(Int32(_SC_CLK_TCK)))
        let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
        let stat = readFile("/proc/self/stat")
        if let stat {
            metrics.cpuSeconds = cpuSeconds(stat: stat, ticksPerSecond: ticks)
            if let procStat = readFile("/proc/stat") {
                metrics.startTimeSeconds = startTimeSeconds(stat: stat, procStat: procStat, ticksPerSecond: ticks)
            }
        }
        if let statm = readFile("/proc/self/statm") { metrics.residentMemoryBytes = residentBytes(statm: statm, pageBytes: pageBytes) }
        metrics.openFileDescriptors = countOpenFileDescriptors()
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,  // RLIM_INFINITY (all ones) does not import
            limit.rlim_cur <= rlim_t(Int.max)
        {
            metrics.fileDescriptorsMax = Int(limit.rlim_cur)
        }
        #endif
        return metrics
    }

    #if os(Linux)
    /// The file's text, at most `procFileBytesMax` bytes of it; nil if it cannot be read whole
    /// within that bound.
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= procFileBytesMax {
            let count = chunk.withUnsafeMutableBytes { buffer in Glibc.read(fd, buffer.baseAddress, buffer.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return nil
    }

    /// The entries of `/proc/self/fd` but `.` and `..` (the descriptor of this listing itself
    /// included); nil if it cannot be listed or holds more than `fdEntriesMax`.
    static func countOpenFileDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDots = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if isDots { continue }
            count += 1
            guard count <= fdEntriesMax else { return nil }
        }
        return count
    }
    #endif
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let last = text.last, last == " " || last == "\n" || last == "\t" { text = text.dropLast() }
        while let first = text.first, first == " " { text = text.dropFirst() }
        return text
    }
}
