import Foundation

/// The post-incident report in Markdown: what the runbook was, the state of each step,
/// the timeline of journal entries, the evidence with its hashes, and whether the
/// journal verified. Holds operator notes and hashes, never command output.
public enum IncidentReport {
    public static func markdown(_ record: IncidentRecord, verification: JournalVerification) -> String {
        var text = "# Incident \(record.id): post-incident report\n\n"
        let entries = record.reading.entries
        if let started = record.started, let runbook = started.runbook {
            text += "- Runbook: \(escape(runbook.title)) (`\(runbook.id)` version \(runbook.version), sha256 `\(runbook.sha256)`)\n"
            text += "- Started: \(started.time) by \(escape(started.actor))\n"
            for (key, value) in (started.parameters ?? [:]).sorted(by: { $0.key < $1.key }) {
                text += "- \(key): `\(value)`\n"
            }
        }
        if let completed = entries.last(where: { $0.event == .completed }) {
            text += "- Completed: \(completed.time) (\(escape(completed.note ?? "")))\n"
        } else if let progress = record.progress {
            text += "- Status: in progress, next step `\(progress.current?.step.id ?? "-")`\n"
        }
        text += "- Journal: \(verification.entries) entries, "
        text += verification.isVerified ? "verified (hash chain and \(verification.evidenceFiles) evidence files intact)\n"
                                        : "**NOT VERIFIED** (\(verification.findings.count) problems, listed below)\n"
        if let head = verification.head { text += "- Journal head: `\(head)` (keep this elsewhere; `verify --head` checks it)\n" }
        if let problem = record.runbookProblem { text += "- Runbook copy: **\(escape(problem))**\n" }

        if let progress = record.progress {
            text += "\n## Actions\n\n| Step | Kind | State | Outcome |\n|---|---|---|---|\n"
            for step in progress.steps {
                let flags = step.step.destructive ? " (destructive)" : ""
                text += "| \(escape(step.step.title)) (`\(step.step.id)`) | \(step.step.kind.rawValue)\(flags) | \(step.state.rawValue) | \(escape(step.lastEntry?.note ?? "")) |\n"
            }
        }

        text += "\n## Timeline (UTC)\n\n| # | Time | Actor | Event | Step | Note |\n|---|---|---|---|---|---|\n"
        for entry in entries {
            text += "| \(entry.seq) | \(entry.time) | \(escape(entry.actor)) | \(entry.event.rawValue) | \(entry.step ?? "") | \(escape(entry.note ?? "")) |\n"
        }

        let evidence = entries.flatMap { entry in entry.evidence.map { (entry, $0) } }
        text += "\n## Evidence\n\n"
        if evidence.isEmpty {
            text += "No evidence files.\n"
        } else {
            text += "Paths are relative to `\(record.directory)`.\n\n| File | Bytes | SHA-256 | Entry |\n|---|---|---|---|\n"
            for (entry, file) in evidence {
                text += "| `\(file.path)` | \(file.bytes) | `\(file.sha256)` | \(entry.seq)\(entry.step.map { " (\($0))" } ?? "") |\n"
            }
        }

        if !verification.findings.isEmpty {
            text += "\n## Verification problems\n\n"
            for finding in verification.findings { text += "- \(escape(finding.description))\n" }
        }
        text += "\n## Review\n\nWhat happened, what went well, what to change (fill in at the review).\n"
        return text
    }

    /// Text safe inside a Markdown table cell: pipes escaped, line breaks as `<br>`.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "\r\n", with: "<br>").replacingOccurrences(of: "\n", with: "<br>")
    }
}
