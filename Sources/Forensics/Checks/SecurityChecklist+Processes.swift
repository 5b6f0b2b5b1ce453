import Foundation

extension SecurityChecklist {
    static let userFix = "create a system user (`useradd --system --shell /usr/sbin/nologin mtproxy`), set `user: mtproxy` in the proxy configuration and `User=mtproxy` in the unit (deploy/mtproxy.service)"

    /// The configuration's `user:`, the account behind it, and the running process's uid.
    static func serviceUser(_ inputs: CheckInputs) -> Finding {
        var parts: [Finding] = []
        let passwd = PasswdEntry.all(in: inputs.context)
        switch inputs.proxy {
        case .success(let facts)?:
            if let user = facts.user {
                if let entries = passwd {
                    if let entry = entries.first(where: { $0.name == user }) {
                        if entry.uid == 0 {
                            parts.append(.fail("user: \(user) has uid 0", fix: userFix))
                        } else if entry.hasLoginShell {
                            parts.append(.fail("user: \(user) (uid \(entry.uid)) has a login shell \(entry.shell), so it is not a dedicated service account",
                                               fix: "usermod --shell /usr/sbin/nologin \(user)"))
                        } else {
                            parts.append(.pass("configuration names user \(user) (uid \(entry.uid), no login shell)"))
                        }
                    } else {
                        parts.append(.fail("user: \(user) does not exist on this machine", fix: userFix))
                    }
                } else {
                    parts.append(.unknown("cannot read /etc/passwd to look up user \(user)", fix: "run the check as root"))
                }
            } else if facts.allowRoot {
                parts.append(.fail("allow_root: true lets the proxy keep running as root", fix: userFix + ", and remove allow_root"))
            }
        case .failure(let error)?:
            parts.append(.unknown("cannot read the proxy configuration: \(error)", fix: "fix the file (mtproxy check-config --config FILE)"))
        case nil:
            break
        }
        let processes = inputs.proxyProcesses
        for process in processes {
            guard let uid = process.effectiveUID else {
                parts.append(.unknown("cannot read the user of mtproxy (pid \(process.pid))", fix: "run the check as root"))
                continue
            }
            let name = passwd?.first { $0.uid == uid }?.name ?? "uid \(uid)"
            if uid == 0 {
                parts.append(.fail("mtproxy (pid \(process.pid)) runs as root", fix: userFix))
            } else {
                parts.append(.pass("mtproxy (pid \(process.pid)) runs as \(name) (uid \(uid))"))
            }
        }
        if parts.isEmpty {
            let configured = (try? inputs.proxy?.get()) != nil
            return .unknown(configured ? "the configuration names no `user:` and no running mtproxy was found, so its user cannot be told"
                                       : "no proxy configuration given and no running mtproxy found",
                            fix: userFix)
        }
        if processes.isEmpty, parts.allSatisfy({ $0.status == .pass }) {
            parts.append(.pass("no running mtproxy found"))
        }
        return Finding.combine(parts)
    }

    /// Read-only root, no-new-privileges, no capabilities, not root, a memory limit: only
    /// when the checks (or mtproxy) run inside a container.
    static func containerHardening(_ inputs: CheckInputs) -> Finding {
        let context = inputs.context
        guard let evidence = containerEvidence(context) else {
            return .pass("not running in a container (no /.dockerenv, /run/.containerenv or container cgroup)")
        }
        let subject = inputs.proxyProcesses.first
        let directory = subject.map { context.systemPath("/proc/\($0.pid)") } ?? context.systemPath("/proc/self")
        let who = subject.map { "mtproxy (pid \($0.pid))" } ?? "this process"
        guard let process = subject ?? ProcessFacts.current(in: context) else {
            return .unknown("in a container (\(evidence)) but \(directory)/status cannot be read", fix: "run the check inside the proxy's container")
        }
        var parts: [Finding] = []
        switch process.noNewPrivileges {
        case true?: parts.append(.pass("no-new-privileges is set"))
        case false?: parts.append(.fail("\(who) can gain privileges (NoNewPrivs 0)", fix: "security_opt: [\"no-new-privileges:true\"] (deploy/compose.yaml)"))
        case nil: parts.append(.unknown("NoNewPrivs not reported for \(who)", fix: "run the check inside the proxy's container"))
        }
        switch process.effectiveUID {
        case 0?: parts.append(.fail("\(who) runs as root in the container", fix: "USER mtproxy in the image, user: \"10001:10001\" in compose (deploy/Dockerfile)"))
        case let uid?: parts.append(.pass("runs as uid \(uid)"))
        case nil: parts.append(.unknown("the uid of \(who) is not reported", fix: "run the check inside the proxy's container"))
        }
        if let bounding = process.boundingCapabilities {
            parts.append(bounding == 0 ? .pass("no capabilities")
                                       : .fail("\(who) keeps capabilities (bounding set 0x\(String(bounding, radix: 16)))", fix: "cap_drop: [ALL] (deploy/compose.yaml)"))
        }
        let mounts = SystemFiles.text(directory + "/mountinfo").map(MountTable.init(mountinfo:))
        if let mounts {
            if let rootMount = mounts.mount(at: "/") {
                parts.append(rootMount.options.contains("ro") ? .pass("read-only root")
                                                               : .fail("the root file system is writable", fix: "read_only: true (deploy/compose.yaml)"))
            } else {
                parts.append(.unknown("no root mount in \(directory)/mountinfo", fix: "run the check inside the proxy's container"))
            }
            if let tmp = mounts.mount(at: "/tmp"), !tmp.options.contains("noexec") {
                parts.append(.fail("/tmp allows executing files", fix: "tmpfs: [\"/tmp:noexec,nosuid,size=64m\"] (deploy/compose.yaml)"))
            }
        } else {
            parts.append(.unknown("cannot read \(directory)/mountinfo", fix: "run the check inside the proxy's container"))
        }
        if let limit = memoryLimit(context) {
            parts.append(limit ? .pass("memory limited") : .fail("no memory limit on the container", fix: "deploy.resources.limits.memory (deploy/compose.yaml)"))
        }
        return Finding.combine(parts, passDetail: "in a container (\(evidence)): " + parts.map(\.detail).joined(separator: ", "))
    }

    /// Why we believe we are in a container, or nil.
    static func containerEvidence(_ context: CheckContext) -> String? {
        for marker in ["/.dockerenv", "/run/.containerenv"] where SystemFiles.exists(context.systemPath(marker)) {
            return marker
        }
        if let cgroup = SystemFiles.text(context.systemPath("/proc/1/cgroup"), limit: 64 * 1024) {
            for word in ["docker", "kubepods", "containerd", "libpod", "lxc"] where cgroup.contains(word) {
                return "/proc/1/cgroup names \(word)"
            }
        }
        return nil
    }

    /// Whether the cgroup has a memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`);
    /// nil when neither can be read.
    static func memoryLimit(_ context: CheckContext) -> Bool? {
        if let text = SystemFiles.text(context.systemPath("/sys/fs/cgroup/memory.max"), limit: 64) {
            return text.trimmingASCIIWhitespace != "max"
        }
        if let text = SystemFiles.text(context.systemPath("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit: 64),
           let bytes = UInt64(text.trimmingASCIIWhitespace) {
            return bytes < 1 << 62
        }
        return nil
    }
}

/// /proc/PID/mountinfo: mount points and their per-mount options.
struct MountTable {
    struct Mount {
        var point: String
        var options: Set<String>
    }

    var mounts: [Mount] = []

    init(mountinfo: String) {
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6 else { continue }
            mounts.append(Mount(point: String(fields[4]), options: Set(fields[5].split(separator: ",").map(String.init))))
        }
    }

    /// The mount in force at `point` (the last one listed wins).
    func mount(at point: String) -> Mount? {
        mounts.last { $0.point == point }
    }
}
