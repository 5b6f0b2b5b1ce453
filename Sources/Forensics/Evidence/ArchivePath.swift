/// The rules every path inside an evidence archive obeys, checked on the way in and
/// on the way out: relative, `/`-separated, no empty, `.` or `..` component, no control
/// characters or backslashes, bounded lengths. Extraction can then never leave its directory.
public enum ArchivePath {
    public static let maximumLength = 1024
    public static let maximumComponentLength = 255

    /// The path's components, or `ForensicsError.unsafePath`.
    public static func components(of path: String) throws(ForensicsError) -> [Substring] {
        let bytes = path.utf8
        guard !bytes.isEmpty, bytes.count <= maximumLength, bytes.first != UInt8(ascii: "/"),
              bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7f && $0 != UInt8(ascii: "\\") }) else {
            throw .unsafePath(path)
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            guard !part.isEmpty, part != ".", part != "..", part.utf8.count <= maximumComponentLength else {
                throw .unsafePath(path)
            }
        }
        return parts
    }

    public static func isSafe(_ path: String) -> Bool {
        (try? components(of: path)) != nil
    }
}
