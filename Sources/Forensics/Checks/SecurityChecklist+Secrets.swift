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

    /// How long ago the secrets last changed, by the configuration file's modification time
    /// (a change for another reason also counts: this is the latest the rotation can have been).
    static func secretAge(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard let info = SystemFiles.status(facts.path) else {
                return .unknown("cannot stat \(facts.path)", fix: "run the check as root")
            }
            let changed = SystemFiles.modificationDate(info)
            let age = inputs.context.now.timeIntervalSince(changed)
            let limit = Double(inputs.context.secretMaximumAge.components.seconds)
            let days = Int((age / 86_400).rounded(.down))
            if age > limit {
                return .fail("the configuration holding the secrets has not changed for \(days) days (limit \(Int(limit / 86_400)))",
                             fix: "rotate: `mtproxy secret rotate --config \(facts.path)`, then hand out the new links")
            }
            return .pass("the configuration holding the secrets changed \(days) day(s) ago (limit \(Int(limit / 86_400)))")
        }
    }
}
