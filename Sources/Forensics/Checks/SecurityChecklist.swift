import ConfigFile

/// The deployment security checklist of SECURITY-GUIDE.md, run against the real machine
/// (or a folder built to look like one): each item passes, fails or cannot be decided,
/// and says how to fix it. `mtforensics check` prints it; runbook `check` steps name items
/// by id. No outcome ever contains a secret's value.
public enum SecurityChecklist {
    public struct Item: Sendable, Hashable {
        public let id: String
        public let title: String
    }

    struct Evaluator: Sendable {
        var item: Item
        var evaluate: @Sendable (CheckInputs) -> Finding
    }

    static let evaluators: [Evaluator] = [
        Evaluator(item: Item(id: "non_root_user", title: "The proxy runs as a dedicated non-root user"), evaluate: serviceUser),
        Evaluator(item: Item(id: "firewall", title: "Firewall denies inbound by default and opens only the needed ports"), evaluate: firewall),
        Evaluator(item: Item(id: "secret_strength", title: "Secrets are full-length keys from a secure random generator"), evaluate: secretStrength),
        Evaluator(item: Item(id: "secret_age", title: "Secrets were rotated recently"), evaluate: secretAge),
        Evaluator(item: Item(id: "stats_loopback", title: "The stats endpoint listens on loopback only"), evaluate: statsLoopback),
        Evaluator(item: Item(id: "logging_enabled", title: "Event logging is on and the log is private"), evaluate: loggingEnabled),
        Evaluator(item: Item(id: "log_rotation", title: "The event log is rotated"), evaluate: logRotation),
        Evaluator(item: Item(id: "monitoring_reachable", title: "The stats endpoint answers"), evaluate: monitoringReachable),
        Evaluator(item: Item(id: "backup_recent", title: "A recent, verified backup exists"), evaluate: backupRecent),
        Evaluator(item: Item(id: "container_hardening", title: "Container hardening, when running in a container"), evaluate: containerHardening),
    ]

    /// Every item, in the order they run, with its stable id.
    public static let items: [Item] = evaluators.map(\.item)

    /// Runs the items named by `ids` (all when nil), in the order given. An id that names
    /// no item gives an `unknown` outcome that says so.
    public static func run(ids: [String]? = nil, context: CheckContext) -> [CheckOutcome] {
        let inputs = CheckInputs(context: context)
        let chosen = ids ?? items.map(\.id)
        return chosen.map { id in
            guard let evaluator = evaluators.first(where: { $0.item.id == id }) else {
                return CheckOutcome(id: id, title: id, status: .unknown,
                                    detail: "no such check item; known: \(items.map(\.id).joined(separator: ", "))",
                                    fix: "name one of the known items")
            }
            let finding = evaluator.evaluate(inputs)
            return CheckOutcome(id: id, title: evaluator.item.title, status: finding.status,
                                detail: finding.detail, fix: finding.status == .pass ? nil : finding.fix)
        }
    }
}

/// One item's verdict before it becomes a `CheckOutcome`.
struct Finding {
    var status: CheckOutcome.Status
    var detail: String
    var fix: String?

    static func pass(_ detail: String) -> Finding { Finding(status: .pass, detail: detail) }
    static func fail(_ detail: String, fix: String) -> Finding { Finding(status: .fail, detail: detail, fix: fix) }
    static func unknown(_ detail: String, fix: String) -> Finding { Finding(status: .unknown, detail: detail, fix: fix) }

    /// Several observations about one item: any failure fails it, else any unknown.
    static func combine(_ parts: [Finding], passDetail: String? = nil) -> Finding {
        let failed = parts.filter { $0.status == .fail }
        let unknown = parts.filter { $0.status == .unknown }
        let deciding = !failed.isEmpty ? failed : !unknown.isEmpty ? unknown : parts
        let status: CheckOutcome.Status = !failed.isEmpty ? .fail : !unknown.isEmpty ? .unknown : .pass
        let detail = status == .pass ? (passDetail ?? parts.map(\.detail).joined(separator: "; "))
                                     : deciding.map(\.detail).joined(separator: "; ")
        let fixes = deciding.compactMap(\.fix).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return Finding(status: status, detail: detail, fix: fixes.isEmpty ? nil : fixes.joined(separator: "; "))
    }
}

/// What the items look at, each read once per run.
final class CheckInputs {
    let context: CheckContext
    let proxy: Result<ProxyFacts, ConfigError>?
    let auditor: Result<AuditorFacts, ConfigError>?
    private(set) lazy var proxyProcesses: [ProcessFacts] = ProcessFacts.find(named: "mtproxy", in: context)

    init(context: CheckContext) {
        self.context = context
        proxy = context.proxyConfigPath.map { path in Result { () throws(ConfigError) in try ProxyFacts(path: path) } }
        auditor = context.auditorConfigPath.map { path in Result { () throws(ConfigError) in try AuditorFacts(path: path) } }
    }

    /// Runs `body` with the proxy's configuration, or says why it cannot.
    func withProxy(_ body: (ProxyFacts) -> Finding) -> Finding {
        switch proxy {
        case nil:
            return .unknown("no proxy configuration given", fix: "pass --proxy-config /etc/mtshield/mtproxy.yaml")
        case .failure(let error)?:
            return .unknown("cannot read the proxy configuration: \(error)", fix: "fix the file (mtproxy check-config --config FILE)")
        case .success(let facts)?:
            return body(facts)
        }
    }
}
