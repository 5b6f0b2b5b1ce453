/// What went wrong on one benchmark connection or in one phase; the load client counts
/// these and the run fails when any occurred, so a figure never rests on broken relaying.
public enum BenchmarkError: Error, Equatable, CustomStringConvertible {
    case unknownProtocolTag(UInt32)
    case frameTooLong(Int)
    case unexpectedMessage(String)
    /// A bulk frame whose length field is wrong: the keystreams or the byte order diverged.
    case corruptBulkFrame(frame: Int)
    case moreDataThanRequested
    case closedEarly(String)
    case timedOut(String)
    case unreadableProcess(pid: Int32, file: String)

    public var description: String {
        switch self {
        case .unknownProtocolTag(let tag): "header carries an unknown protocol tag \(String(tag, radix: 16))"
        case .frameTooLong(let length): "frame of \(length) bytes where a short message was expected"
        case .unexpectedMessage(let what): "received \(what)"
        case .corruptBulkFrame(let frame): "bulk frame \(frame) has a wrong length field (keystream or order diverged)"
        case .moreDataThanRequested: "peer sent more bulk data than requested"
        case .closedEarly(let stage): "connection closed during \(stage)"
        case .timedOut(let stage): "timed out during \(stage)"
        case .unreadableProcess(let pid, let file): "cannot read /proc/\(pid)/\(file)"
        }
    }
}
