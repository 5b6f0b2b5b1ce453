import NIOHTTP1

/// One answer of an `HTTPPageServer`: what a route returns, or the 404 and 405 that
/// `HTTPRoutes` makes. For `HEAD` the body is the one `GET` would send; the server sends
/// only its length.
public struct HTTPPage: Sendable, Hashable {
    public static let plainTextContentType = "text/plain; charset=utf-8"
    /// The Prometheus text exposition format, version 0.0.4.
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: [UInt8]
    /// `Allow`, on 405.
    public var allow: String?

    public init(status: HTTPResponseStatus = .ok, contentType: String, body: [UInt8], allow: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.allow = allow
    }
}
