import Testing
@testable import EventLog

@Suite struct EventLogPlaceholderTests {
    @Test func libraryLinks() {}
}
