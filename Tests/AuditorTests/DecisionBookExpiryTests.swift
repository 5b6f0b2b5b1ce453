@testable import Auditor
import EventLog
import Testing

/// `DecisionBook.expire` pops run-out decisions from a heap of expiries; the model is
/// what it did before: keep exactly the decisions whose `until` is after `now`.
@Suite struct DecisionBookExpiryTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func expiryMatchesFilteringTheWholeBook(seed: UInt64) {
        var random = GroupTableTests.Stream(state: seed)
        let values = (0..<40).map { "198.51.100.\($0)" }
        let manual = (0..<5).map { "203.0.113.\($0)" }
        var book = DecisionBook()
        var now: Int64 = 0
        for _ in 0..<3_000 {
            now += Int64(random.next() % 400)
            let roll = random.next() % 100
            let value = values[Int(random.next() % UInt64(values.count))]
            switch roll {
            case ..<55:
                let policy = BanPolicy(target: .sourceIP, durationMilliseconds: 500 + Int64(random.next() % 5_000),
                                       factor: 2, maximumMilliseconds: 60_000)
                _ = book.ban(value, rule: "r", reason: "x", policy: policy, at: now)
            case ..<65:
                book.lift(value)
            case ..<72:
                // A manual ban may be shorter than the one it replaces, or longer.
                let target = manual[Int(random.next() % UInt64(manual.count))]
                book.adopt(Decision(value: target, scope: .ip, rule: "operator", reason: "manual", created: now,
                                    until: now + Int64(random.next() % 8_000), repeatCount: 1, origin: .manual))
            default:
                let model = book.active.filter { $0.value.until > now }
                book.expire(now: now)
                #expect(book.active == model, "expire(now: \(now))")
            }
        }
        book.expire(now: .max)
        #expect(book.active.isEmpty)
    }
}
