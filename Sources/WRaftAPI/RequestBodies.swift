// The JSON bodies of requests: the client encodes them, the server decodes them (and checks
// every value: they come from outside).

/// `POST /connect`.
package struct ConnectBody: Codable, Sendable, Equatable {
    /// A raft address `host:port`.
    package var peer: String

    package init(peer: String) { self.peer = peer }
}

/// `POST /members/remove` and `POST /members/promote`: the member the change is about.
package struct MemberIDBody: Codable, Sendable, Equatable {
    /// A member id (hex).
    package var id: String

    package init(id: String) { self.id = id }
}

/// `POST /set`. `value` and the compare-and-set `prevValue` are UTF-8 text, or base64 when
/// `encoding` is `"base64"` (the same convention as `GET /data` lists).
package struct SetBody: Codable, Sendable, Equatable {
    package var key: String
    package var value: String?
    package var delete: Bool?
    package var encoding: String?
    package var prevValue: String?
    package var prevIndex: UInt64?

    package init(
        key: String, value: String? = nil, delete: Bool? = nil, encoding: String? = nil, prevValue: String? = nil,
        prevIndex: UInt64? = nil
    ) {
        self.key = key
        self.value = value
        self.delete = delete
        self.encoding = encoding
        self.prevValue = prevValue
        self.prevIndex = prevIndex
    }
}

/// `POST /op/isolate`.
package struct IsolateBody: Codable, Sendable, Equatable {
    /// Member ids; absent: isolate from every peer.
    package var peers: [String]?

    package init(peers: [String]?) { self.peers = peers }
}

/// `POST /op/delay`. Read as JSON numbers of any size (an `Int` field would refuse a huge one
/// without naming it); the server range-checks them.
package struct DelayBody: Codable, Sendable, Equatable {
    package var ms: Double
    package var jitterMs: Double?

    package init(ms: Double, jitterMs: Double?) {
        self.ms = ms
        self.jitterMs = jitterMs
    }
}

/// `POST /op/drop`.
package struct DropBody: Codable, Sendable, Equatable {
    package var rate: Double

    package init(rate: Double) { self.rate = rate }
}

/// `POST /op/transfer`.
package struct TransferBody: Codable, Sendable, Equatable {
    /// A member id (hex).
    package var to: String

    package init(to: String) { self.to = to }
}
