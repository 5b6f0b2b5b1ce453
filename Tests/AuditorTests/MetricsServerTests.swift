@testable import Auditor
import Logging
import LoopbackHTTP
import NIOHTTP1
import Testing

@Suite struct MetricsServerTests {
    @Test func metricsIsTheOnlyPage() {
        let metrics = AuditorMetrics()
        metrics.alert(rule: "failures")
        let page = metrics.routes.page(method: .GET, uri: "/metrics")
        #expect(page.status == .ok)
        #expect(page.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(page.body == metrics.exposition())
        #expect(String(decoding: page.body, as: UTF8.self).contains("failures"))

        let missing = metrics.routes.page(method: .GET, uri: "/stats")
        #expect(missing.status == .notFound)
        #expect(String(decoding: missing.body, as: UTF8.self) == "Not found. Try /metrics.\n")
        #expect(metrics.routes.page(method: .POST, uri: "/metrics").status == .methodNotAllowed)
        #expect(metrics.routes.page(method: .HEAD, uri: "/metrics").status == .ok)
    }

    @Test func listensOnTheConfiguredAddressAndStops() async throws {
        let server = MetricsServer(host: "127.0.0.1", port: 0, metrics: AuditorMetrics(), logger: Logger(label: "test.metrics"))
        let address = try await server.start()
        #expect(address.ipAddress == "127.0.0.1")
        #expect((address.port ?? 0) > 0)
        await server.stop()
        #expect(server.localAddress == nil)
    }
}
