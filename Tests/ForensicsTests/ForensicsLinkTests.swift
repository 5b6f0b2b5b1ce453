import Testing
@testable import Forensics

@Suite struct ForensicsPlaceholderTests {
    @Test func libraryLinks() {}
}
