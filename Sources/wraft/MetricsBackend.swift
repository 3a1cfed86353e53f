import Metrics
import Prometheus
import WRaftServer
import WRaftSupport

/// The node's metrics backend: swift-prometheus's registry, with the HELP text and buckets of
/// `NodeMetrics`. `PrometheusMetricsFactory` gives every family an empty help; this factory
/// makes the same collectors through the registry's calls that take one.
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    /// Help text by family name. A family missing here gets no HELP line (the scrape test
    /// finds it).
    let help: [String: String]
    let latencyBuckets: [Duration]
    let countBuckets: [Double]
    /// Unregistering is the same whatever the help: left to the library's factory.
    private let plain: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry, descriptions: [MetricDescription], latencyBuckets: [Duration], countBuckets: [Double]) {
        self.registry = registry
        self.help = Dictionary(descriptions.map { ($0.name, $0.help) }, uniquingKeysWith: { first, _ in first })
        self.latencyBuckets = latencyBuckets
        self.countBuckets = countBuckets
        self.plain = PrometheusMetricsFactory(registry: registry)
    }

    /// The family `label` with its help; an empty unit adds nothing to the name.
    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: countBuckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: latencyBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { plain.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { plain.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { plain.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { plain.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { plain.destroyTimer(handler) }
}

/// Bootstraps the process's metrics system (once, in `wraft serve`) and returns what `/metrics`
/// serves: the registry's families followed by the process's (read at each scrape).
enum MetricsBackend {
    static func bootstrap() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(
            DescribedPrometheusFactory(
                registry: registry, descriptions: NodeMetrics.descriptions, latencyBuckets: NodeMetrics.latencyBuckets,
                countBuckets: NodeMetrics.countBuckets))
        NodeMetrics.reportStart()
        return { registry.emitToString() + ProcessMetrics.read().exposition }
    }
}
