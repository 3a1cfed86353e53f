import Synchronization

/// Who may talk to the HTTP port, and how: the node's own names (for the `Host` check), the
/// origins whose pages may change state besides the members' own, bearer tokens, and TLS.
/// `makeHTTPApplication` enforces it on every request.
public struct HTTPSecurity: Sendable {
    /// The addresses the node is reached at (its bind host and advertised host); with
    /// `localhost`, `127.0.0.1`, `[::1]` and `hostAllowlist`, the names a `Host` header may carry.
    public var ownHosts: [String]
    /// More names for `Host`: `name` (at the node's HTTP port) or `name:port` (exactly).
    public var hostAllowlist: [String]
    /// More origins (`scheme://host[:port]`) whose pages may send state-changing requests.
    public var corsAllowedOrigins: [String]
    /// Bearer tokens; nil: no token is asked for.
    public var tokens: AuthTokens?
    /// HTTPS: certificate, key, and the CA client certificates must chain to; nil: plain HTTP.
    public var tls: TLSFiles?
    /// Whether clients must present a certificate from `tls.trustedCAFile`.
    public var isClientCertificateAuthRequired: Bool

    public init(
        ownHosts: [String] = ["127.0.0.1"], hostAllowlist: [String] = [], corsAllowedOrigins: [String] = [],
        tokens: AuthTokens? = nil, tls: TLSFiles? = nil, isClientCertificateAuthRequired: Bool = false
    ) {
        self.ownHosts = ownHosts
        self.hostAllowlist = hostAllowlist
        self.corsAllowedOrigins = corsAllowedOrigins
        self.tokens = tokens
        self.tls = tls
        self.isClientCertificateAuthRequired = isClientCertificateAuthRequired
    }

    /// The security of a node started with `options`; reads the token file, if any.
    public init(options: NodeOptions) throws(AuthTokenFileError) {
        let tokens = try options.authTokenFile.map { path throws(AuthTokenFileError) in
            try AuthTokens(contentsOfFile: path)
        }
        self.init(
            ownHosts: [options.host, options.httpListenHost, options.announcedHTTPHost], hostAllowlist: options.hostAllowlist,
            corsAllowedOrigins: options.corsAllowedOrigins, tokens: tokens, tls: options.httpTLS,
            isClientCertificateAuthRequired: options.isClientCertificateAuthRequired)
    }

    var isHTTPS: Bool { tls != nil }
}

/// The port the HTTP server is bound to, known once it listens (the options may say 0).
final class BoundPort: Sendable {
    private let port: Atomic<Int>
    init(_ port: Int) { self.port = Atomic(port) }
    var value: Int { port.load(ordering: .relaxed) }
    func set(_ value: Int) { port.store(value, ordering: .relaxed) }
}

/// The `Host` and `Origin` rules, prepared once from `HTTPSecurity`.
struct HostPolicy: Sendable {
    /// Lowercased host names (IPv6 in brackets) a `Host` may carry at the node's own port.
    let names: Set<String>
    /// Lowercased `name:port` pairs a `Host` may carry exactly.
    let namesWithPort: Set<String>
    /// Lowercased origins from `--cors-allowed-origins`.
    let configuredOrigins: Set<String>
    let scheme: String

    static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]"]

    init(_ security: HTTPSecurity) {
        var names = Self.loopbackNames
        for host in security.ownHosts {
            let name = Self.normalizedName(host)
            // A wildcard is where the node listens, never a name a browser should use: allowing
            // it would let a rebinding page at 0.0.0.0 through.
            if !Self.isWildcard(name) { names.insert(name) }
        }
        var namesWithPort: Set<String> = []
        for entry in security.hostAllowlist {
            let entry = entry.lowercased()
            if let parts = Self.split(hostHeader: entry), let port = parts.port {
                namesWithPort.insert("\(Self.normalizedName(parts.name)):\(port)")
            } else {
                names.insert(Self.normalizedName(entry))
            }
        }
        self.names = names
        self.namesWithPort = namesWithPort
        self.configuredOrigins = Set(security.corsAllowedOrigins.map { Self.normalizedOrigin($0) })
        self.scheme = security.isHTTPS ? "https" : "http"
    }

    /// Whether a `Host` header (nil: absent) names this node listening on `port`.
    func admits(host header: String?, port: Int) -> Bool {
        guard let header, let parts = Self.split(hostHeader: header.lowercased()) else { return false }
        let name = parts.name
        let effectivePort = parts.port ?? (scheme == "https" ? 443 : 80)
        if effectivePort == port && names.contains(name) { return true }
        return !namesWithPort.isEmpty && namesWithPort.contains("\(name):\(effectivePort)")
    }

    /// The origins of the members' HTTP addresses: `http://` (and under HTTPS `https://`) plus
    /// each address; a member on a loopback name also under the other loopback names, since a
    /// dashboard opened at `localhost:8081` reaches `127.0.0.1:8082` from that origin.
    func memberOrigins(httpAddresses: [String]) -> Set<String> {
        let schemes = scheme == "https" ? ["http", "https"] : ["http"]
        var origins: Set<String> = []
        for address in httpAddresses {
            guard let parts = Self.split(hostHeader: address.lowercased()), let port = parts.port else { continue }
            let name = Self.normalizedName(parts.name)
            let names = Self.loopbackNames.contains(name) ? Self.loopbackNames : [name]
            for name in names {
                for scheme in schemes {
                    origins.insert("\(scheme)://\(name):\(port)")
                    if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
                        origins.insert("\(scheme)://\(name)")
                    }
                }
            }
        }
        return origins
    }

    /// Whether `origin` is this very page's (same scheme and `Host`, which passed `admits`).
    func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host else { return false }
        return origin == "\(scheme)://\(host.lowercased())"
    }

    static func normalizedOrigin(_ origin: String) -> String {
        var text = origin.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// `name` lowercased, with a bare IPv6 address put in brackets.
    static func normalizedName(_ host: String) -> String {
        let lower = host.lowercased()
        if lower.contains(":") && !lower.hasPrefix("[") { return "[\(lower)]" }
        return lower
    }

    static func isWildcard(_ name: String) -> Bool {
        name == "0.0.0.0" || name == "[::]" || name == "[0:0:0:0:0:0:0:0]" || name.isEmpty
    }

    /// Splits `name[:port]` (`[v6][:port]`); nil when malformed. The port is nil when absent.
    static func split(hostHeader: String) -> (name: String, port: Int?)? {
        guard !hostHeader.isEmpty, hostHeader.utf8.count <= 300 else { return nil }
        var name: Substring
        var portText: Substring?
        if hostHeader.hasPrefix("[") {
            guard let close = hostHeader.firstIndex(of: "]") else { return nil }
            name = hostHeader[...close]
            let rest = hostHeader[hostHeader.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = hostHeader.firstIndex(of: ":") {
            name = hostHeader[..<colon]
            portText = hostHeader[hostHeader.index(after: colon)...]
        } else {
            name = Substring(hostHeader)
        }
        guard !name.isEmpty, !name.contains(where: { $0 == "/" || $0 == "@" || $0 == " " }) else { return nil }
        guard let portText else { return (String(name), nil) }
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy(\.isASCIIDigit),
            let port = Int(portText), (1...65_535).contains(port)
        else { return nil }
        return (String(name), port)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
