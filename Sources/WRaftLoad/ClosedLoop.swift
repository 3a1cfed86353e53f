import NIOCore
import WRaftClient
import WRaftSupport

/// What a closed-loop run did (`NodeClient.runClosedLoop`).
public struct ClosedLoopResult: Sendable {
    /// Requests answered with 2xx inside the measured window.
    public var completed = 0
    /// Requests that failed (transport error or non-2xx) inside the measured window.
    public var failed = 0
    /// The first failure seen.
    public var firstError: WRaftClientError?
    /// Latencies of the completed requests, in microseconds (at most `samplesMax` of them).
    public var latenciesMicroseconds: [UInt32] = []

    public init() {}
}

extension NodeClient {
    /// Bound on reconnections during one closed-loop run.
    public static let closedLoopReconnectsMax = 1_000

    /// A closed-loop load on one connection of its own, for benchmarks: sends `request(n)`, and
    /// when its answer arrives sends `request(n + 1)`, until `end` or `requestsMax` requests.
    /// The loop runs on the
    /// connection's event loop, so a request costs no task switch; answers between
    /// `measureFrom` and `end` are counted and sampled. A broken connection is replaced.
    public func runClosedLoop(
        measureFrom: ContinuousClock.Instant, end: ContinuousClock.Instant, requestsMax: UInt64 = .max,
        timeoutMs: Int, samplesMax: Int, request: @escaping @Sendable (_ sequence: UInt64) -> HTTPRequest
    ) async -> ClosedLoopResult {
        let now = ContinuousClock.now
        let measureFromDeadline = NIODeadline.now() + .nanoseconds((measureFrom - now).inNanoseconds)
        let endDeadline = NIODeadline.now() + .nanoseconds((end - now).inNanoseconds)
        var result = ClosedLoopResult()
        var sequence: UInt64 = 0
        var reconnects = 0
        while NIODeadline.now() < endDeadline && sequence < requestsMax && reconnects <= Self.closedLoopReconnectsMax {
            reconnects += 1
            let channel: any Channel
            do {
                channel = try await openDedicatedConnection(timeoutMs: timeoutMs)
            } catch {
                if NIODeadline.now() >= measureFromDeadline { result.recordFailure(error) }
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let window = ClosedLoopWindow(
                measureFrom: measureFromDeadline, end: endDeadline, requestsMax: requestsMax, timeoutMs: timeoutMs,
                samplesMax: samplesMax)
            let promise = channel.eventLoop.makePromise(of: ClosedLoopOutcome.self)
            let start = ClosedLoopStart(
                channel: channel, hostHeader: address.description, window: window, result: result,
                sequence: sequence, request: request, promise: promise)
            channel.eventLoop.execute { start.run() }
            // The driver always completes the promise (it never fails it).
            let outcome = (try? await promise.futureResult.get()) ?? ClosedLoopOutcome(result: result, sequence: sequence)
            result = outcome.result
            sequence = outcome.sequence
            channel.close(promise: nil)
        }
        return result
    }
}

extension ClosedLoopResult {
    mutating func recordFailure(_ error: WRaftClientError) {
        failed += 1
        if firstError == nil { firstError = error }
    }
}

/// The measured window and bounds of a closed loop.
private struct ClosedLoopWindow: Sendable {
    let measureFrom: NIODeadline
    let end: NIODeadline
    let requestsMax: UInt64
    let timeoutMs: Int
    let samplesMax: Int
}

/// Where a driver stopped: its counts and the next request number.
private struct ClosedLoopOutcome: Sendable {
    var result: ClosedLoopResult
    var sequence: UInt64
}

/// Everything a driver needs, handed to the event loop.
private struct ClosedLoopStart: Sendable {
    let channel: any Channel
    let hostHeader: String
    let window: ClosedLoopWindow
    let result: ClosedLoopResult
    let sequence: UInt64
    let request: @Sendable (UInt64) -> HTTPRequest
    let promise: EventLoopPromise<ClosedLoopOutcome>

    /// On the channel's event loop.
    func run() {
        ClosedLoopDriver(start: self).sendNext()
    }
}

/// Sends one request after another on a channel, from its event loop only.
private final class ClosedLoopDriver {
    private let start: ClosedLoopStart
    private var result: ClosedLoopResult
    private var sequence: UInt64

    init(start: ClosedLoopStart) {
        self.start = start
        self.result = start.result
        self.sequence = start.sequence
    }

    func sendNext() {
        let window = start.window
        let sentAt = NIODeadline.now()
        guard sentAt < window.end, sequence < window.requestsMax, start.channel.isActive else {
            start.promise.succeed(ClosedLoopOutcome(result: result, sequence: sequence))
            return
        }
        let exchange = start.channel.eventLoop.makePromise(of: ExchangeResult.self)
        let pending = PendingExchange(
            request: start.request(sequence), hostHeader: start.hostHeader,
            deadline: sentAt + .milliseconds(Int64(window.timeoutMs)), timeoutMs: window.timeoutMs, promise: exchange)
        sequence += 1
        start.channel.writeAndFlush(pending).whenFailure { [exchange, hostHeader = start.hostHeader] _ in
            exchange.fail(WRaftClientError.connectionClosed(address: hostHeader))
        }
        exchange.futureResult.assumeIsolated().whenComplete { [self] outcome in
            record(outcome, sentAt: sentAt)
            switch outcome {
            case .success(let exchanged) where exchanged.isReusable: sendNext()
            default: start.promise.succeed(ClosedLoopOutcome(result: result, sequence: sequence))
            }
        }
    }

    private func record(_ outcome: Result<ExchangeResult, any Error>, sentAt: NIODeadline) {
        let answeredAt = NIODeadline.now()
        let window = start.window
        guard sentAt >= window.measureFrom, answeredAt <= window.end else { return }
        switch outcome {
        case .success(let exchanged) where exchanged.response.isSuccess:
            result.completed += 1
            if result.latenciesMicroseconds.count < window.samplesMax {
                let micros = (answeredAt - sentAt).nanoseconds / 1_000
                result.latenciesMicroseconds.append(UInt32(clamping: micros))
            }
        case .success(let exchanged):
            result.recordFailure(NodeClient.error(from: exchanged.response))
        case .failure(let error):
            result.recordFailure((error as? WRaftClientError) ?? .connectionClosed(address: start.hostHeader))
        }
    }
}
