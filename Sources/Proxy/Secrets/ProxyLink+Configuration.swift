import ConfigFile
import EventLog

extension ProxyLink {
    /// One link per configured secret, for `mtproxy link`. The server is `server` if
    /// given, else `public_host`, else the first listen address that is not a wildcard;
    /// the port is `public_port`, else the first listen port.
    public static func links(for configuration: ProxyConfiguration, file: String, server: String? = nil,
                             port: Int? = nil) throws(ConfigError) -> [ProxyLink] {
        let listeners = configuration.listen.compactMap { try? HostAndPort.parse($0, allowName: false, allowAnyPort: true).get() }
        let host = server ?? configuration.publicHost ?? listeners.first { listener in
            guard let address = listener.address else { return true }
            return address != .v4(0) && address != .v6(0, 0)
        }?.host
        guard let host else {
            throw ConfigError(file: file, key: "public_host",
                              message: "not set and every listen address is a wildcard; set public_host or give --server")
        }
        guard let port = port ?? configuration.publicPort ?? listeners.first?.port, port > 0 else {
            throw ConfigError(file: file, key: "public_port",
                              message: "not set and the first listen port is 0; set public_port or give --port")
        }
        return configuration.secrets.map { ProxyLink(server: host, port: port, secret: $0) }
    }
}
