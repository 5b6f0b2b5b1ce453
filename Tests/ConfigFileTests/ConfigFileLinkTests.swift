import Testing
@testable import ConfigFile

@Suite struct ConfigFilePlaceholderTests {
    @Test func libraryLinks() {}
}
