import Testing
@testable import Proxy

@Suite struct ProxyPlaceholderTests {
    @Test func libraryLinks() {}
}
