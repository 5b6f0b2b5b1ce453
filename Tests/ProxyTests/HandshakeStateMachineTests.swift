import EventLog
import MTCrypto
import NIOCore
import Testing
@testable import Proxy

@Suite struct HandshakeStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func machine(_ configuration: ProxyConfiguration = TestSecrets.configuration()) -> HandshakeStateMachine {
        HandshakeStateMachine(settings: ProxySettings(configuration), deadline: start + .seconds(10))
    }

    @Test func headerInPiecesThenRemainderIsKept() throws {
        var machine = machine()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: -2)
        let extra: [UInt8] = [1, 2, 3, 4, 5]
        guard case .readMore = machine.received(ByteBuffer(bytes: client.header[0..<1])) else { Issue.record("wanted more"); return }
        guard case .readMore = machine.received(ByteBuffer(bytes: client.header[1..<63])) else { Issue.record("wanted more"); return }
        #expect(machine.wantsInput)
        let action = machine.received(ByteBuffer(bytes: client.header[63...] + extra))
        guard case .connect(let handshake, let transport, let targets) = action else {
            Issue.record("expected connect, got \(action)"); return
        }
        #expect(handshake.secret.name == "main")
        #expect(handshake.dc == -2)
        #expect(transport == .secure)
        #expect(targets == [.address(try SocketAddress(ipAddress: "127.0.0.1", port: 9))])
        #expect(machine.wantsInput, "reading goes on while the DC leg opens")
        guard case .none = machine.received(ByteBuffer(bytes: [6, 7])) else { Issue.record("connecting must hold bytes"); return }
        guard case .none = machine.inputClosed() else { Issue.record("EOF while connecting is remembered"); return }
        #expect(!machine.wantsInput, "nothing to read after EOF")
        let (remainder, inputClosed) = machine.relayStarted()
        #expect(remainder?.bytes == extra + [6, 7])
        #expect(inputClosed)
    }

    @Test func readingPausesOnceTheConnectingLimitIsHeld() {
        var machine = machine()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        guard case .connect = machine.received(ByteBuffer(bytes: client.header)) else { Issue.record("expected connect"); return }
        let chunk = [UInt8](repeating: 7, count: 4096)
        var held = 0
        while machine.wantsInput {
            _ = machine.received(ByteBuffer(bytes: chunk))
            held += chunk.count
            if held > 2 * HandshakeStateMachine.connectingReadLimit { break }
        }
        #expect(!machine.wantsInput)
        #expect(held >= HandshakeStateMachine.connectingReadLimit)
        #expect(held < HandshakeStateMachine.connectingReadLimit + chunk.count)
        #expect(machine.relayStarted().remainder?.readableBytes == held)
    }

    @Test func timeoutOnlyAfterTheDeadline() {
        var machine = machine()
        _ = machine.received(ByteBuffer(bytes: [1, 2, 3]))
        guard case .none = machine.timerFired(now: start + .seconds(9)) else { Issue.record("early timeout"); return }
        guard case .fail(let reason, let consumed) = machine.timerFired(now: start + .seconds(10)) else {
            Issue.record("no timeout"); return
        }
        #expect(reason == "timeout")
        #expect(consumed.bytes == [1, 2, 3])
        guard case .none = machine.received(ByteBuffer(bytes: [4])) else { Issue.record("failed machine must ignore input"); return }
    }

    @Test func closedEarly() {
        var machine = machine()
        _ = machine.received(ByteBuffer(bytes: [9, 9]))
        guard case .fail(let reason, let consumed) = machine.inputClosed() else { Issue.record("no failure"); return }
        #expect(reason == "closed_early")
        #expect(consumed.bytes == [9, 9])
    }

    @Test func wrongKeyIsBadSecretWithEveryByteHandedToTheFailureRoute() {
        var machine = machine()
        let client = TestClient(key: SecureRandom.bytes(16), tagByte: 0xdd, dc: 2)
        let sent = client.header + [0xaa, 0xbb]
        guard case .fail(let reason, let consumed) = machine.received(ByteBuffer(bytes: sent)) else { Issue.record("accepted"); return }
        #expect(reason == "bad_secret")
        #expect(consumed.bytes == sent)
    }

    @Test func unknownTagFromTheRightKey() {
        var machine = machine()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xab, dc: 2)
        guard case .fail(let reason, _) = machine.received(ByteBuffer(bytes: client.header)) else { Issue.record("accepted"); return }
        #expect(reason == "unknown_tag")
    }

    @Test(arguments: [(UInt8(0xef), ProxyTransport.classic), (0xee, .classic), (0xdd, .secure)])
    func transportNotAllowed(tagByte: UInt8, transport: ProxyTransport) {
        var configuration = TestSecrets.configuration()
        configuration.transports = Set(ProxyTransport.allCases).subtracting([transport])
        var machine = machine(configuration)
        let client = TestClient(key: TestSecrets.main.key, tagByte: tagByte, dc: 2)
        guard case .fail(let reason, _) = machine.received(ByteBuffer(bytes: client.header)) else { Issue.record("accepted"); return }
        #expect(reason == "transport_not_allowed")
    }

    @Test func insideFakeTLSCountsAsFakeTLS() {
        var configuration = TestSecrets.configuration()
        configuration.transports = [.faketls]
        var machine = HandshakeStateMachine(settings: ProxySettings(configuration), deadline: start, insideFakeTLS: true)
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        guard case .connect(_, let transport, _) = machine.received(ByteBuffer(bytes: client.header)) else { Issue.record("refused"); return }
        #expect(transport == .faketls)
    }

    @Test(arguments: [7, -7, 0, 32767])
    func unknownDC(dc: Int) {
        var machine = machine()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xee, dc: dc)
        guard case .fail(let reason, _) = machine.received(ByteBuffer(bytes: client.header)) else { Issue.record("accepted"); return }
        #expect(reason == "unknown_dc")
    }

    @Test func randomFirstBytesNeverCrash() {
        for _ in 0..<500 {
            var machine = machine()
            var bytes = SecureRandom.bytes(Int.random(in: 0...200))
            while !bytes.isEmpty {
                let cut = Int.random(in: 1...bytes.count)
                _ = machine.received(ByteBuffer(bytes: bytes[0..<cut]))
                bytes.removeFirst(cut)
            }
            _ = machine.inputClosed()
        }
    }
}
