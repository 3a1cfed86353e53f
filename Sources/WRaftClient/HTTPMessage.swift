/// One HTTP/1.1 request as this client sends it.
public struct HTTPRequest: Sendable, Equatable {
    /// `GET`, `PUT`, `POST`, `DELETE`, ...
    public var method: String
    /// The request target: an already encoded path with its query, e.g. `/data/k%2F1?timeoutMs=100`.
    public var target: String
    /// Extra headers; `Host`, `Content-Length` and `Connection` are added by the client.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// One HTTP/1.1 response as received.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    /// Header names lower-cased; repeated headers joined with `, `.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }

    /// The body as UTF-8 text (invalid bytes replaced).
    public var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }

    /// True for 2xx.
    public var isSuccess: Bool {
        (200..<300).contains(status)
    }
}
