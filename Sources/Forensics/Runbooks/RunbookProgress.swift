/// Where an incident stands, derived from its journal alone: each step's state, the step
/// that comes next, and whether evidence has been preserved.
public struct RunbookProgress: Sendable, Equatable {
    public enum StepState: String, Sendable, Equatable {
        case pending
        case done
        /// Failed and stopping the run until retried or skipped.
        case failed
        /// Failed, but the step has `continue_on_failure: true`.
        case failedContinued = "failed (continued)"
        case skipped

        public var isResolved: Bool { self == .done || self == .skipped || self == .failedContinued }
    }

    public struct Step: Sendable, Equatable {
        public var step: RunbookStep
        public var state: StepState
        /// The last journal entry about the step.
        public var lastEntry: JournalEntry?
    }

    public var steps: [Step]

    public init(runbook: Runbook, entries: [JournalEntry]) {
        steps = runbook.steps.map { step in
            var state = StepState.pending
            var last: JournalEntry?
            for entry in entries where entry.step == step.id {
                switch entry.event {
                case .stepDone: state = .done
                case .stepSkipped: state = .skipped
                case .stepFailed: state = step.continueOnFailure ? .failedContinued : .failed
                case .refused, .started, .completed: break
                }
                if entry.event != .refused { last = entry }
            }
            return Step(step: step, state: state, lastEntry: last)
        }
    }

    /// The first step not yet resolved; nil when every step is.
    public var current: Step? { steps.first { !$0.state.isResolved } }

    public var isComplete: Bool { current == nil }

    /// True once a snapshot step of this incident has succeeded: destructive steps may run.
    public var evidencePreserved: Bool {
        steps.contains { $0.step.kind == .snapshot && $0.state == .done }
    }

    public func count(_ state: StepState) -> Int { steps.count { $0.state == state } }
}
