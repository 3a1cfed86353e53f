import Hummingbird

/// The endpoints of API.md, recognised from the request path alone (the method is checked by
/// each handler, so a known path with a wrong method is `405`, an unknown path `404`).
///
/// Routing is a hand-written `switch` rather than Hummingbird's `Router`: the API is small and
/// fixed, and doing it by hand keeps the key of `/data/{key}` exact (every byte after `/data/`,
/// slashes and empty segments included), gives JSON 404/405 answers, and costs no trie walk or
/// parameter dictionary on the write path.
enum Endpoint: Equatable {
    case dashboard
    case health
    case metrics
    case state
    case connect
    case start
    case removeMember
    /// `POST /members/promote`.
    case promoteMember
    case set
    case log
    /// `GET /events?since=`: Server-Sent Events of what the node did.
    case events
    /// `GET /data?prefix=&limit=`.
    case list
    /// `/data/{key}`; the key is still percent-encoded.
    case key(Substring)
    /// `/op/{name}`.
    case fault(Substring)
    /// `POST /txn`.
    case txn
    /// `POST /compact`.
    case compact
    /// `POST /lease` (grant).
    case leaseGrant
    /// `GET /leases`.
    case leases
    /// `/lease/{id}` and `/lease/{id}/keepalive`; the rest of the path as is.
    case lease(Substring)
    /// `GET /watch`.
    case watch
    case unknown

    init(path: String) {
        switch path {
        case "/", "/index.html": self = .dashboard
        case "/health": self = .health
        case "/metrics": self = .metrics
        case "/state": self = .state
        case "/connect": self = .connect
        case "/start": self = .start
        case "/members/remove": self = .removeMember
        case "/members/promote": self = .promoteMember
        case "/set": self = .set
        case "/log": self = .log
        case "/events": self = .events
        case "/data": self = .list
        case "/txn": self = .txn
        case "/compact": self = .compact
        case "/lease": self = .leaseGrant
        case "/leases": self = .leases
        case "/watch": self = .watch
        default:
            if path.hasPrefix("/data/") {
                self = .key(path.dropFirst("/data/".count))
            } else if path.hasPrefix("/lease/") {
                self = .lease(path.dropFirst("/lease/".count))
            } else if path.hasPrefix("/op/") {
                self = .fault(path.dropFirst("/op/".count))
            } else {
                self = .unknown
            }
        }
    }

    /// The methods the endpoint answers besides OPTIONS (HEAD wherever GET is, answered as
    /// GET without the body); empty for an unknown path. The one table of allowed methods: a
    /// request with another gets `405` and these in `Allow`.
    var methods: [HTTPRequest.Method] {
        switch self {
        case .key: return Self.keyMethods
        case .list, .state, .health, .metrics, .dashboard, .log, .leases: return Self.readMethods
        case .set, .connect, .start, .removeMember, .promoteMember, .fault, .txn, .compact, .leaseGrant: return Self.actionMethods
        case .lease(let rest): return rest.hasSuffix("/keepalive") ? Self.actionMethods : Self.leaseMethods
        case .events, .watch: return Self.streamMethods
        case .unknown: return []
        }
    }

    // Built once: `methods` is consulted on every request.
    private static let keyMethods: [HTTPRequest.Method] = [.get, .head, .put, .delete]
    private static let readMethods: [HTTPRequest.Method] = [.get, .head]
    private static let actionMethods: [HTTPRequest.Method] = [.post]
    private static let streamMethods: [HTTPRequest.Method] = [.get]
    private static let leaseMethods: [HTTPRequest.Method] = [.get, .head, .delete]

    /// The least role a bearer token needs for `method` on this endpoint when tokens are
    /// configured; nil: open to all (`/health`, and the dashboard page, which holds no data).
    func requiredRole(for method: HTTPRequest.Method) -> AccessRole? {
        switch self {
        case .health, .dashboard: return nil
        case .key, .lease: return method == .get || method == .head ? .read : .write
        case .list, .state, .log, .metrics, .events, .unknown, .leases, .watch: return .read
        case .set, .txn, .compact, .leaseGrant: return .write
        case .connect, .start, .removeMember, .promoteMember, .fault: return .admin
        }
    }

    /// Whether the endpoint's request body, if any, is JSON (it must then say so in
    /// `Content-Type`; `/start` and most `/op/...` take none, and may carry none other).
    var takesJSONBody: Bool {
        switch self {
        case .set, .connect, .start, .removeMember, .promoteMember, .fault, .txn, .compact, .leaseGrant: return true
        case .key, .list, .state, .health, .metrics, .dashboard, .log, .events, .unknown, .leases, .lease, .watch: return false
        }
    }

    /// The `endpoint` dimension of the HTTP metrics.
    var metricName: String {
        switch self {
        case .dashboard: return "dashboard"
        case .health: return "health"
        case .metrics: return "metrics"
        case .state: return "state"
        case .connect: return "connect"
        case .start: return "start"
        case .removeMember: return "members_remove"
        case .promoteMember: return "members_promote"
        case .set: return "set"
        case .log: return "log"
        case .events: return "events"
        case .list: return "list"
        case .key: return "data"
        case .fault: return "op"
        case .txn: return "txn"
        case .compact: return "compact"
        case .leaseGrant, .lease: return "lease"
        case .leases: return "leases"
        case .watch: return "watch"
        case .unknown: return "unknown"
        }
    }

    /// One of each kind of endpoint, for making their metrics up front.
    static let allKinds: [Endpoint] = [
        .dashboard, .health, .metrics, .state, .connect, .start, .removeMember, .promoteMember, .set, .log, .events, .list, .key(""), .fault(""),
        .txn, .compact, .leaseGrant, .leases, .lease(""), .watch, .unknown,
    ]
}

extension Endpoint {
    /// Whether answers carry the store's revision (`X-WRaft-Revision`): every key-value answer.
    var carriesRevision: Bool {
        switch self {
        case .key, .list, .set, .txn, .compact, .leaseGrant, .leases, .lease: return true
        case .dashboard, .health, .metrics, .state, .connect, .start, .removeMember, .promoteMember, .log, .events, .fault, .watch, .unknown:
            return false
        }
    }
}
