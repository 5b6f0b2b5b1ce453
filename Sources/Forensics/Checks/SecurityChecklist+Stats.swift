extension SecurityChecklist {
    static let statsFix = "set stats.listen: 127.0.0.1:3001 (read it there, or through an SSH tunnel)"

    /// `stats.listen` is a loopback address (or stats are off).
    static func statsLoopback(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard let listen = facts.statsListen else {
                return .pass("stats are disabled (stats.listen: null)")
            }
            guard let address = HostPort(listen) else {
                return .unknown("stats.listen \(listen) is not host:port", fix: statsFix)
            }
            if address.isLoopback {
                return .pass("stats listen on \(listen)")
            }
            return .fail("stats listen on \(listen): reachable from other machines", fix: statsFix)
        }
    }

    /// `GET /stats` on the configured address answers 200.
    static func monitoringReachable(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard let listen = facts.statsListen else {
                return .fail("stats are disabled: there is nothing to monitor", fix: statsFix)
            }
            guard var address = HostPort(listen) else {
                return .unknown("stats.listen \(listen) is not host:port", fix: statsFix)
            }
            if address.isWildcard { address.host = address.host.contains(":") ? "::1" : "127.0.0.1" }
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            switch StatsProbe.status(host: address.host, port: address.port, path: "/stats", timeout: inputs.context.statsTimeout) {
            case .success(200):
                return .pass("http://\(host):\(address.port)/stats answers 200")
            case .success(let code):
                return .fail("http://\(host):\(address.port)/stats answers \(code)", fix: "check that stats.listen names mtproxy's stats endpoint")
            case .failure(let failure):
                return .fail("http://\(host):\(address.port)/stats: \(failure)", fix: "start mtproxy (systemctl status mtproxy; make status) and check stats.listen")
            }
        }
    }
}
