/// The deployment security checklist as runbook `check` steps call it: the items with
/// the given ids, evaluated in `context`, one outcome per item (an unknown id included,
/// as `unknown`).
public protocol DeploymentChecklist: Sendable {
    func run(ids: [String], context: CheckContext) -> [CheckOutcome]
}
