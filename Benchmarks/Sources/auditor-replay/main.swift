import Auditor

#if canImport(Glibc)
import Glibc
#endif

// `mtauditor replay --rules DIR FILE…` without the command line's async entry point, so
// that it runs under valgrind (callgrind counts instructions repeatably on a busy
// machine; valgrind cannot start mtauditor, whose async main waits in libdispatch).
// Prints events, output lines and a checksum of the output (to compare two builds), and
// the CPU time and rate of the replay itself (rules loaded, files read, nothing printed).
var arguments = Array(CommandLine.arguments.dropFirst())
/// `--print`: the output itself on standard output (to find where two builds differ).
let printing = arguments.first == "--print"
if printing { arguments.removeFirst() }
guard arguments.count >= 3, arguments[0] == "--rules" else {
    fail("usage: auditor-replay [--print] --rules DIR FILE...", status: 2)
}

func fail(_ message: String, status: Int32) -> Never {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func milliseconds(_ seconds: Double) -> String {
    let milliseconds = Int((seconds * 1000).rounded())
    return "\(milliseconds / 1000).\(String(1000 + milliseconds % 1000).dropFirst())"
}

do {
    let engine = RuleEngine(rules: try RuleDirectory.load(path: arguments[1]))
    var lines = 0
    var checksum: UInt64 = 0xCBF2_9CE4_8422_2325
    let start = cpuSeconds()
    let summary = try Replay(engine: engine).run(paths: Array(arguments[2...]), writing: { block in
        if printing { block.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) } }
        for byte in block {
            if byte == 0x0A { lines += 1 }
            checksum = (checksum ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        block.removeAll(keepingCapacity: true)
    }, malformed: { _ in })
    let cpu = cpuSeconds() - start
    if !printing {
    print("events \(summary.events), malformed \(summary.malformed), output lines \(lines), checksum \(String(checksum, radix: 16))")
    print("cpu \(milliseconds(cpu)) s, \(Int((Double(summary.events) / cpu).rounded())) events/s")
    }
} catch {
    fail("auditor-replay: \(error)", status: 1)
}
