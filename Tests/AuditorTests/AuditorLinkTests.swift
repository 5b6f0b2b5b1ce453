import Testing
@testable import Auditor

@Suite struct AuditorPlaceholderTests {
    @Test func libraryLinks() {}
}
