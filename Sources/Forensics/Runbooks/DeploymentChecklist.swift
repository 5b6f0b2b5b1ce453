/// The deployment security checklist as runbook `check` steps call it: the items with
/// the given ids, evaluated in `context`, one outcome per item (an unknown id included,
/// as `unknown`).
public protocol DeploymentChecklist: Sendable {
    func run(ids: [String], context: CheckContext) -> [CheckOutcome]
}

/// The deployment security checklist of this build (`SecurityChecklist`).
public struct BuiltInChecklist: DeploymentChecklist {
    public init() {}

    public func run(ids: [String], context: CheckContext) -> [CheckOutcome] {
        SecurityChecklist.run(ids: ids, context: context)
    }
}
