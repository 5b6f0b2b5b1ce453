import Foundation

extension SecurityChecklist {
    static let secretFix = "generate a new secret with `mtproxy secret generate` (or `mtproxy secret rotate --config FILE`), and keep the configuration at mode 0600 or 0640"

    /// Every configured secret: a 16-byte key in a known form, not made up, not shared
    /// between entries; the file holding them not readable by everyone.
    static func secretStrength(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard !facts.secrets.isEmpty else {
                return .fail("the configuration has no secrets", fix: secretFix)
            }
            var parts: [Finding] = []
            var keys: [[UInt8]: String] = [:]
            for secret in facts.secrets {
                switch SecretStrength.judge(secret.text) {
                case .weak(let reason):
                    parts.append(.fail("secret \(secret.name): \(reason)", fix: secretFix))
                case .strong(let form):
                    parts.append(.pass("\(secret.name) (\(form.rawValue))"))
                }
                if let key = SecretStrength.key(in: secret.text)?.key {
                    if let other = keys[key] {
                        parts.append(.fail("secrets \(other) and \(secret.name) share one key", fix: secretFix))
                    }
                    keys[key] = secret.name
                }
            }
            if let info = SystemFiles.status(facts.path), info.st_mode & 0o007 != 0 {
                parts.append(.fail("\(facts.path) is readable by every user (mode \(SystemFiles.octal(info.st_mode)))",
                                   fix: "chmod 0640 \(facts.path) (owner root, group of the service user)"))
            }
            return Finding.combine(parts, passDetail: "\(facts.secrets.count) secret(s), each a 16-byte random-looking key: "
                                   + parts.map(\.detail).joined(separator: ", "))
        }
    }

    /// How old each secret in service is, dated by `SecretDating`. With no date for a secret,
    /// the configuration's modification time can only show it is too old (the key was in
    /// the file when it last changed); otherwise its age is unknown, and said so.
    static func secretAge(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            let now = Int64((inputs.context.now.timeIntervalSince1970 * 1000).rounded())
            let limit = inputs.context.secretMaximumAge.components.seconds * 1000
            let limitDays = limit / 86_400_000
            let rotateFix = "rotate: `mtproxy secret rotate --config \(facts.path)` (it writes `created:`), then hand out the new links"
            let inService = facts.secrets.filter { $0.retiresAt == nil }
            guard !inService.isEmpty else {
                return .unknown("the configuration has no secret in service", fix: secretFix)
            }
            var events: [String: SecretDating.Dated]?
            let rotationEvents = {
                if events == nil { events = SecretDating.rotationEvents(eventLog: facts.eventsPath) }
                return events!
            }
            let fileChanged = SystemFiles.status(facts.path).map { Int64(SystemFiles.modificationDate($0).timeIntervalSince1970 * 1000) }
            var parts: [Finding] = []
            for secret in inService {
                let unreadable = secret.createdUnreadable ? " (its created: is not an RFC 3339 time such as 2026-01-31T12:00:00Z)" : ""
                if let dated = SecretDating.date(secret, in: facts, rotationEvents: rotationEvents) {
                    let age = now - dated.milliseconds
                    let when = RFC3339.format(milliseconds: dated.milliseconds)
                    if age < -300_000 {
                        parts.append(.unknown("secret \(secret.name): made \(when) by \(dated.evidence), which is in the future",
                                              fix: "check the machine's clock and the secret's created: field"))
                    } else if age > limit {
                        parts.append(.fail("secret \(secret.name) is \(age / 86_400_000) days old (made \(when), by \(dated.evidence); limit \(limitDays))\(unreadable)",
                                           fix: rotateFix))
                    } else {
                        parts.append(.pass("\(secret.name) is \(max(age, 0) / 86_400_000) day(s) old (made \(when), by \(dated.evidence))\(unreadable)"))
                    }
                } else if let fileChanged, now - fileChanged > limit {
                    parts.append(.fail("secret \(secret.name) is at least \((now - fileChanged) / 86_400_000) days old: it has no created: and no rotation on record, and \(facts.path) has not changed for that long (limit \(limitDays))\(unreadable)",
                                       fix: rotateFix))
                } else {
                    let changed = fileChanged.map { "; \(facts.path) changed \(max(now - $0, 0) / 86_400_000) day(s) ago, which only shows the key is at least that old" } ?? ""
                    parts.append(.unknown("secret \(secret.name): its age is unknown: no created: field, no retiring entry and no secret.rotated event names it\(changed)\(unreadable)",
                                          fix: "\(rotateFix); or add `created: YYYY-MM-DDTHH:MM:SSZ` (UTC) to its entry if you know when the key was made"))
                }
            }
            return Finding.combine(parts, passDetail: parts.map(\.detail).joined(separator: "; ") + " (limit \(limitDays) days)")
        }
    }
}
