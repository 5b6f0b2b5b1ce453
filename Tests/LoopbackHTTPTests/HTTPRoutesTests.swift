import LoopbackHTTP
import NIOHTTP1
import Testing

@Suite struct HTTPRoutesTests {
    static let routes = HTTPRoutes([
        "/a": { HTTPPage(contentType: "application/json", body: Array("{}".utf8)) },
        "/b": { HTTPPage(status: .serviceUnavailable, contentType: HTTPPage.plainTextContentType, body: Array("busy\n".utf8)) },
    ])

    @Test(arguments: [
        (HTTPMethod.GET, "/a", HTTPResponseStatus.ok, "application/json"),
        (.HEAD, "/a", .ok, "application/json"),
        (.GET, "/a?x=1&y", .ok, "application/json"),
        (.GET, "/b", .serviceUnavailable, HTTPPage.plainTextContentType),
        (.GET, "/", .notFound, HTTPPage.plainTextContentType),
        (.GET, "/a/", .notFound, HTTPPage.plainTextContentType),
        (.GET, "?/a", .notFound, HTTPPage.plainTextContentType),
        (.GET, "", .notFound, HTTPPage.plainTextContentType),
        (.POST, "/a", .methodNotAllowed, HTTPPage.plainTextContentType),
        (.RAW(value: "BREW"), "/nowhere", .methodNotAllowed, HTTPPage.plainTextContentType),
    ])
    func answers(method: HTTPMethod, uri: String, status: HTTPResponseStatus, contentType: String) {
        let page = Self.routes.page(method: method, uri: uri)
        #expect(page.status == status)
        #expect(page.contentType == contentType)
        #expect((page.allow == "GET, HEAD") == (status == .methodNotAllowed))
    }

    @Test func notFoundNamesTheRoutesInOrder() {
        #expect(Self.routes.paths == ["/a", "/b"])
        let page = Self.routes.page(method: .GET, uri: "/c")
        #expect(String(decoding: page.body, as: UTF8.self) == "Not found. Try /a or /b.\n")
    }

    @Test func headRendersTheSameBodyAsGet() {
        #expect(Self.routes.page(method: .HEAD, uri: "/a") == Self.routes.page(method: .GET, uri: "/a"))
    }

    @Test func anyMethodAndURIGetsAnAnswer() {
        let methods: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .OPTIONS, .RAW(value: "X")]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let uri = String((0..<Int.random(in: 0...20, using: &random)).map { _ in
                "/ab?=%\u{0}é".randomElement(using: &random)!
            })
            let method = methods.randomElement(using: &random)!
            let status = Self.routes.page(method: method, uri: uri).status
            let expected: [HTTPResponseStatus] = method == .GET || method == .HEAD
                ? [.ok, .serviceUnavailable, .notFound] : [.methodNotAllowed]
            #expect(expected.contains(status), "\(method) \(uri.debugDescription)")
        }
    }
}
