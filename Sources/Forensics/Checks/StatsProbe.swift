#if canImport(Glibc)
import Glibc
#endif

/// One HTTP GET to the stats endpoint, bounded by a deadline: the status code of the
/// answer, or why there was none.
enum StatsProbe {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func status(host: String, port: Int, path: String, timeout: Duration) -> Result<Int, Failure> {
        let deadline = ContinuousClock.now + timeout
        let address = host == "localhost" ? "127.0.0.1" : host
        var storage = sockaddr_storage()
        let length: socklen_t
        let family: Int32
        if address.contains(":") {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, address, &v6.sin6_addr) == 1 else { return .failure(Failure(description: "\(host) is not an IP address")) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: v6) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, address, &v4.sin_addr) == 1 else { return .failure(Failure(description: "\(host) is not an IP address")) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: v4) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(Failure(description: "socket: \(systemError())")) }
        defer { close(descriptor) }

        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, length) }
        }
        if connected != 0 && errno != EINPROGRESS {
            return .failure(Failure(description: "connect to \(host):\(port): \(systemError())"))
        }
        guard wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
            return .failure(Failure(description: "no connection to \(host):\(port) within \(timeout)"))
        }
        var error: Int32 = 0
        var errorLength = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &errorLength)
        if error != 0 {
            return .failure(Failure(description: "connect to \(host):\(port): \(String(cString: strerror(error)))"))
        }

        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: mtforensics-check\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            guard wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                return .failure(Failure(description: "\(host):\(port) did not take the request within \(timeout)"))
            }
            let count = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .failure(Failure(description: "send to \(host):\(port): \(systemError())"))
            }
            sent += count
        }

        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !answer.contains(0x0a) && answer.count < 4096 {
            guard wait(descriptor, for: Int16(POLLIN), until: deadline) else {
                return .failure(Failure(description: "\(host):\(port) did not answer within \(timeout)"))
            }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .failure(Failure(description: "receive from \(host):\(port): \(systemError())"))
            }
            if count == 0 { break }
            answer += buffer[..<count]
        }
        let statusLine = String(decoding: answer.prefix { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self)
        let words = statusLine.split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let code = Int(words[1]) else {
            return .failure(Failure(description: "\(host):\(port) answered something other than HTTP"))
        }
        return .success(code)
    }

    private static func wait(_ descriptor: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return false }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    private static func systemError() -> String { String(cString: strerror(errno)) }
}
