import NIOHTTP1

/// Which page answers a request, decided without any channel: `GET` and `HEAD` of a
/// route's exact path (a query string is ignored) call its closure; any other path is a
/// 404 that names the routes, any other method a 405.
public struct HTTPRoutes: Sendable {
    public typealias Page = @Sendable () -> HTTPPage

    private let routes: [(path: String, page: Page)]

    /// - Parameter routes: exact paths such as `/metrics`, each with the closure that
    ///   renders its page on every request.
    public init(_ routes: KeyValuePairs<String, Page>) {
        self.routes = routes.map { (path: $0.key, page: $0.value) }
    }

    public var paths: [String] { routes.map(\.path) }

    public func page(method: HTTPMethod, uri: String) -> HTTPPage {
        guard method == .GET || method == .HEAD else {
            return HTTPPage(status: .methodNotAllowed, contentType: HTTPPage.plainTextContentType,
                            body: Array("Only GET and HEAD.\n".utf8), allow: "GET, HEAD")
        }
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(uri)
        guard let route = routes.first(where: { $0.path == path }) else {
            return HTTPPage(status: .notFound, contentType: HTTPPage.plainTextContentType,
                            body: Array("Not found. Try \(paths.joined(separator: " or ")).\n".utf8))
        }
        return route.page()
    }
}
