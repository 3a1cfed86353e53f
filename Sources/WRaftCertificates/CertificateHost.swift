#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One host a certificate is valid for: an IP address (an IP SAN) or a DNS name (a DNS SAN).
public enum CertificateHost: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    case ipAddress([UInt8])
    /// A lowercase DNS name such as `node1.example.com` or `localhost`.
    case dnsName(String)

    /// The most hosts one certificate names.
    public static let countMax = 64
    /// RFC 1035: at most 253 characters in a name, 63 in a label.
    static let dnsNameCharactersMax = 253
    static let dnsLabelCharactersMax = 63

    /// Parses one host from untrusted text: an IPv4 or IPv6 address (brackets allowed around
    /// IPv6), else a DNS name of letters, digits, `-` and `.`, with labels of 1...63 characters
    /// that neither start nor end with `-`.
    public init(parsing text: String) throws(WRaftCertificateError) {
        let host = Self.unbracketed(text)
        if let bytes = Self.ipAddressBytes(of: host) {
            self = .ipAddress(bytes)
            return
        }
        guard !host.contains(":") else { throw .invalidHost(text, reason: "not a valid IPv6 address") }
        try Self.checkDNSName(host, original: text)
        self = .dnsName(host.lowercased())
    }

    /// Parses a comma-separated list (`--host a,b,c`), dropping blanks and duplicates, keeping order.
    public static func parseList(_ text: String) throws(WRaftCertificateError) -> [CertificateHost] {
        var hosts: [CertificateHost] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let trimmed = part.trimmingSpaces()
            guard !trimmed.isEmpty else { continue }
            let host = try CertificateHost(parsing: trimmed)
            if !hosts.contains(host) { hosts.append(host) }
            guard hosts.count <= countMax else { throw .invalidHostCount(hosts.count) }
        }
        return hosts
    }

    public var description: String {
        switch self {
        case .dnsName(let name): return name
        case .ipAddress(let bytes): return Self.format(bytes)
        }
    }

    private static func checkDNSName(_ name: String, original: String) throws(WRaftCertificateError) {
        guard !name.isEmpty else { throw .invalidHost(original, reason: "empty") }
        guard name.utf8.count <= dnsNameCharactersMax else {
            throw .invalidHost(original, reason: "longer than \(dnsNameCharactersMax) characters")
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...dnsLabelCharactersMax).contains(label.utf8.count) else {
                throw .invalidHost(original, reason: "each dot-separated label must have 1...\(dnsLabelCharactersMax) characters")
            }
            guard label.utf8.allSatisfy({ $0.isDNSCharacter }) else {
                throw .invalidHost(original, reason: "a DNS name holds only letters, digits, '-' and '.'")
            }
            guard label.first != "-", label.last != "-" else {
                throw .invalidHost(original, reason: "a label must not start or end with '-'")
            }
        }
        // An all-numeric name such as 10.0.0 is a malformed address, not a name.
        guard !labels.allSatisfy({ $0.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }) else {
            throw .invalidHost(original, reason: "not a valid IPv4 address")
        }
    }

    /// The bytes of an IP address written as text: 4 for IPv4, 16 for IPv6 (brackets allowed
    /// around IPv6), network order; nil for anything else (a name, a malformed address).
    public static func ipAddressBytes(of text: String) -> [UInt8]? {
        let host = unbracketed(text)
        return ipv4Bytes(host) ?? ipv6Bytes(host)
    }

    private static func unbracketed(_ host: String) -> String {
        guard host.hasPrefix("["), host.hasSuffix("]"), host.count >= 2 else { return host }
        return String(host.dropFirst().dropLast())
    }

    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    private static func ipv6Bytes(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    private static func format(_ bytes: [UInt8]) -> String {
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let formatted = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        guard formatted != nil else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension UInt8 {
    fileprivate var isDNSCharacter: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: "-")
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
