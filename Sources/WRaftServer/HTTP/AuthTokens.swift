import Foundation

/// What a bearer token may do. Each role includes the ones below it.
public enum AccessRole: Int, Sendable, Comparable, CustomStringConvertible {
    /// Reads: `GET /data...`, `/state`, `/log`, `/metrics`.
    case read = 1
    /// Reads, and data writes: `PUT`/`DELETE /data/{key}`, `POST /set`.
    case write = 2
    /// Everything: also `/connect`, `/start`, `/members/*`, `/op/*`.
    case admin = 3

    public static func < (lhs: AccessRole, rhs: AccessRole) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .read: return "read"
        case .write: return "write"
        case .admin: return "admin"
        }
    }

    init?(name: Substring) {
        switch name {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }
}

/// The bearer tokens of `--auth-token-file`: one `TOKEN ROLE` a line; blank lines and lines
/// starting with `#` are ignored. A token is 16 to 512 characters of RFC 6750's `b64token`
/// alphabet (letters, digits, `-._~+/`, trailing `=`); a file that breaks any rule is refused
/// whole, naming the line, so a typo never leaves a node open or locks out its operator silently.
public struct AuthTokens: Sendable, Equatable {
    /// The shortest token accepted: a guessable token protects nothing.
    public static let tokenBytesMin = 16
    public static let tokenBytesMax = 512
    /// The most tokens one file may hold, and its largest size.
    public static let tokensMax = 1_024
    public static let fileBytesMax = 1 << 20

    private struct Entry: Sendable, Equatable {
        var token: [UInt8]
        var role: AccessRole
    }

    private let entries: [Entry]

    /// Parses the text of a token file; `source` names it in errors.
    public init(parsing text: String, source: String) throws(AuthTokenFileError) {
        var entries: [Entry] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            func refuse(_ why: String) -> AuthTokenFileError {
                AuthTokenFileError(description: "\(source) line \(lineNumber): \(why)")
            }
            guard fields.count == 2 else { throw refuse("expected TOKEN ROLE (two fields), found \(fields.count)") }
            let token = Array(fields[0].utf8)
            guard (Self.tokenBytesMin...Self.tokenBytesMax).contains(token.count) else {
                throw refuse("a token is \(Self.tokenBytesMin) to \(Self.tokenBytesMax) characters, not \(token.count)")
            }
            guard Self.isBearerToken(token) else {
                throw refuse("a token may hold only letters, digits, - . _ ~ + / and a trailing =")
            }
            guard let role = AccessRole(name: fields[1]) else {
                throw refuse("the role must be read, write or admin, not \"\(fields[1].prefix(20))\"")
            }
            guard !entries.contains(where: { $0.token == token }) else { throw refuse("the token appears twice") }
            guard entries.count < Self.tokensMax else { throw refuse("more than \(Self.tokensMax) tokens") }
            entries.append(Entry(token: token, role: role))
        }
        guard !entries.isEmpty else {
            throw AuthTokenFileError(description: "\(source): no TOKEN ROLE line; every request would be refused")
        }
        self.entries = entries
    }

    /// Reads and parses a token file.
    public init(contentsOfFile path: String) throws(AuthTokenFileError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AuthTokenFileError(description: "cannot read the auth token file \(path): \(error)")
        }
        guard data.count <= Self.fileBytesMax else {
            throw AuthTokenFileError(description: "the auth token file \(path) exceeds \(Self.fileBytesMax) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw AuthTokenFileError(description: "the auth token file \(path) is not UTF-8 text")
        }
        try self.init(parsing: text, source: path)
    }

    /// The role of `presented`, or nil when it is no known token. Every known token is compared,
    /// each in time that depends only on the presented token's length, so the answer's timing
    /// tells nothing about which bytes of which token matched.
    func role(of presented: some Collection<UInt8>) -> AccessRole? {
        let presented = Array(presented)
        var found: AccessRole?
        for entry in entries where Self.constantTimeEquals(presented, entry.token) {
            found = entry.role
        }
        return found
    }

    /// Equality of two byte strings in time that depends only on `presented.count`.
    static func constantTimeEquals(_ presented: [UInt8], _ known: [UInt8]) -> Bool {
        guard !known.isEmpty else { return presented.isEmpty }
        var difference = UInt(bitPattern: presented.count ^ known.count)
        for position in presented.indices {
            difference |= UInt(presented[position] ^ known[position % known.count])
        }
        return difference == 0
    }

    private static func isBearerToken(_ bytes: [UInt8]) -> Bool {
        var seenPadding = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "="):
                seenPadding = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                if seenPadding { return false }
            default:
                return false
            }
        }
        return true
    }
}

/// A token file the node refuses to start with; the description names the file and line.
public struct AuthTokenFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}
