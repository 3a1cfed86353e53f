import HTTPTypes

/// Which requests `FastPathHandler` answers itself, on the connection's event loop: the hot
/// key-value requests with a body of known, bounded length. Everything else (other paths, a
/// chunked or `Expect`ing body, a declared body over the bound) goes to Hummingbird's
/// per-connection task untouched, which answers it as before (a body over the bound: `413`,
/// drained). The fast path runs the very same `APIResponder.respond`, so both paths give the
/// same answer to the same request; this only decides who reads it off the connection.
enum FastPathRoute {
    /// The number of body bytes the fast path reads for a request with `head` (its declared
    /// `Content-Length`, 0 without one); nil: the request goes through Hummingbird.
    ///
    /// - `GET`/`HEAD`/`DELETE /data/{key}` without a body;
    /// - `PUT /data/{key}` with at most `options.valueBytesMax` bytes;
    /// - `POST /set` with at most `options.jsonBodyBytesMax` bytes.
    static func bodyBytes(for head: HTTPRequest, options: HTTPOptions) -> Int? {
        guard let target = head.path else { return nil }
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        let limit: Int
        switch head.method {
        case .get, .head, .delete:
            guard path.hasPrefix("/data/") else { return nil }
            limit = 0
        case .put:
            guard path.hasPrefix("/data/") else { return nil }
            limit = options.valueBytesMax
        case .post:
            guard path == "/set" else { return nil }
            limit = options.jsonBodyBytesMax
        default:
            return nil
        }
        let fields = head.headerFields
        // A chunked body has no length to bound up front, and `Expect: 100-continue` asks for an
        // interim answer: both stay on Hummingbird's path, as do bodies over the bound (its
        // `413` answers before the body is read).
        guard fields[.transferEncoding] == nil, fields[.expect] == nil else { return nil }
        guard let declared = fields[.contentLength] else { return 0 }
        // Several `Content-Length` fields come joined by ", " and parse as no number.
        guard declared.utf8.count <= 20, let bytes = Int(declared), (0...limit).contains(bytes) else { return nil }
        return bytes
    }

    /// Whether the connection ends after this request's answer (`Connection: close`), as
    /// Hummingbird's own loop decides it.
    static func closesConnection(_ head: HTTPRequest) -> Bool {
        guard let value = head.headerFields[.connection] else { return false }
        return value.utf8.count == 5 && value.lowercased() == "close"
    }
}

/// The requests of one HTTP/1.1 connection as the fast path sees them, as a pure state machine:
/// `FastPathHandler` feeds it the request parts it reads and the response ends written, and
/// performs the actions it returns. It never touches a channel.
///
/// One request is answered at a time, in arrival order: from a request's end until its answer
/// ends, the parts of the next (pipelined) requests are held, whichever path answers either.
/// So responses leave in request order even when fast-path and Hummingbird requests
/// interleave, and Hummingbird's task only ever sees whole requests of its own.
struct FastPathConnectionState {
    enum State: Equatable {
        /// Between requests.
        case idle
        /// A fast-path request: its parts are read until `requestEnded`, then it is answered.
        case fast(requestEnded: Bool, closesConnection: Bool)
        /// A request Hummingbird answers: its parts go on to Hummingbird until its end; it is
        /// done when its end was read and its response's end written (an early `413` answers
        /// before the body is read, and Hummingbird drains the rest).
        case passThrough(requestEnded: Bool, responseEnded: Bool, closesConnection: Bool)
        /// A request with `Connection: close` was answered: nothing more is read.
        case closing
        /// The channel closed.
        case closed
    }

    /// What to do with one request part.
    enum PartAction: Equatable {
        /// Hand it on to Hummingbird's task.
        case forward
        /// A part of a fast-path request: keep it.
        case collect
        /// The end of a fast-path request: answer it.
        case answer
        /// Keep it until the request before it is answered (`isHolding`).
        case hold
        /// Ignore it (after `Connection: close`).
        case drop
        /// The parts broke HTTP's order (a head inside a request): close the connection.
        case close
    }

    /// What to do once a fast-path answer is written.
    enum AnswerAction: Equatable {
        /// Go on with the parts held meanwhile.
        case resume
        /// The request said `Connection: close`: close once the answer is out.
        case close
        /// The channel closed meanwhile: nothing.
        case none
    }

    private(set) var state: State = .idle

    /// Whether parts read now must wait: a request has ended and its answer is not written yet.
    var isHolding: Bool {
        switch state {
        case .fast(requestEnded: true, _), .passThrough(requestEnded: true, responseEnded: false, _): return true
        case .idle, .fast, .passThrough, .closing, .closed: return false
        }
    }

    /// The head of a request; `isFast`: `FastPathRoute` takes it.
    mutating func head(isFast: Bool, closesConnection: Bool) -> PartAction {
        switch state {
        case .idle:
            state = isFast
                ? .fast(requestEnded: false, closesConnection: closesConnection)
                : .passThrough(requestEnded: false, responseEnded: false, closesConnection: closesConnection)
            return isFast ? .collect : .forward
        case .fast(requestEnded: false, _), .passThrough(requestEnded: false, _, _):
            // NIO's decoder ends a request before it starts the next.
            return .close
        case .fast, .passThrough:
            return .hold
        case .closing, .closed:
            return .drop
        }
    }

    /// A body part or the end of a request.
    mutating func bodyOrEnd(isEnd: Bool) -> PartAction {
        switch state {
        case .fast(requestEnded: false, let closes):
            guard isEnd else { return .collect }
            state = .fast(requestEnded: true, closesConnection: closes)
            return .answer
        case .passThrough(requestEnded: false, let responseEnded, let closes):
            guard isEnd else { return .forward }
            state = responseEnded ? Self.after(passThroughClosing: closes)
                : .passThrough(requestEnded: true, responseEnded: false, closesConnection: closes)
            return .forward
        case .fast, .passThrough:
            return .hold
        case .idle:
            // A part without a head: Hummingbird's task refuses it.
            return .forward
        case .closing, .closed:
            return .drop
        }
    }

    /// Hummingbird's task wrote the end of a response. Returns whether held parts may go on.
    mutating func passThroughResponseEnded() -> Bool {
        guard case .passThrough(let requestEnded, responseEnded: false, let closes) = state else { return false }
        if requestEnded {
            state = Self.after(passThroughClosing: closes)
            return true
        }
        state = .passThrough(requestEnded: false, responseEnded: true, closesConnection: closes)
        return false
    }

    /// The fast-path answer was written.
    mutating func fastAnswerWritten() -> AnswerAction {
        guard case .fast(requestEnded: true, let closes) = state else { return .none }
        state = closes ? .closing : .idle
        return closes ? .close : .resume
    }

    /// An error or event arrived while a fast-path request was still being read (the client
    /// went away mid-request, or its bytes stopped parsing): the request is dropped, and the
    /// event goes on to Hummingbird's task, which answers and closes as it always did.
    /// Returns whether a request was dropped.
    mutating func abandonIncompleteFastRequest() -> Bool {
        guard case .fast(requestEnded: false, _) = state else { return false }
        state = .idle
        return true
    }

    mutating func channelClosed() { state = .closed }

    /// Hummingbird's loop stops after a request with `Connection: close`.
    private static func after(passThroughClosing closes: Bool) -> State { closes ? .closing : .idle }
}
