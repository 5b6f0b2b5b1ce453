/// The one byte form of a journal entry that its hash is computed over: object keys in
/// byte order, no whitespace, integers in decimal, strings with only `"`, `\` and control
/// characters escaped. A line that decodes but does not re-encode to itself was edited.
enum CanonicalJSON: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case array([CanonicalJSON])
    case object([String: CanonicalJSON])

    var bytes: [UInt8] {
        var output: [UInt8] = []
        append(to: &output)
        return output
    }

    func append(to output: inout [UInt8]) {
        switch self {
        case .string(let text):
            Self.appendString(text, to: &output)
        case .integer(let value):
            output += Array(String(value).utf8)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                element.append(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let fields):
            output.append(UInt8(ascii: "{"))
            for (index, key) in fields.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                fields[key]!.append(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20, 0x7f:
                output += Array("\\u00".utf8) + [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xf)]]
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
