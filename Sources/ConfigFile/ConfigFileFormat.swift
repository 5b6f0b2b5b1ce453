/// A configuration held in one YAML file whose root is a mapping: loading a file,
/// decoding text and listing every problem go the same way for each such type; the type
/// says only which root keys it takes and how their sections decode.
public protocol ConfigFileFormat {
    /// The keys of the root mapping; any other key is an error.
    static var keys: Set<String> { get }

    /// Every setting at its default.
    init()

    /// Decodes the sections of `root` into `configuration`, which starts with every
    /// default, recording each independent problem in `errors` and going on.
    static func decodeSections(of root: ConfigMapping, into configuration: inout Self, errors: inout ConfigErrors)
}

extension ConfigFileFormat {
    /// Loads and validates the file at `path`; throws the first problem in file order.
    public static func load(path: String) throws(ConfigError) -> Self {
        let (configuration, errors) = decode(try ConfigDocument.load(path: path))
        try errors.throwFirst()
        return configuration
    }

    /// Decodes YAML text, naming `file` in errors; throws the first problem in file order.
    public static func decode(yaml: String, file: String) throws(ConfigError) -> Self {
        let (configuration, errors) = decode(try ConfigDocument.parse(yaml: yaml, file: file))
        try errors.throwFirst()
        return configuration
    }

    /// Every problem of the file at `path`, in file order; empty when it is valid.
    public static func problems(path: String) -> [ConfigError] {
        do throws(ConfigError) {
            return decode(try ConfigDocument.load(path: path)).errors.sorted
        } catch {
            return [error]
        }
    }

    /// Decodes as much as possible, collecting independent problems: an unknown root key
    /// stops there, a bad section leaves its defaults and the others are still read.
    public static func decode(_ root: ConfigValue) -> (configuration: Self, errors: ConfigErrors) {
        var configuration = Self()
        var errors = ConfigErrors()
        do throws(ConfigError) {
            let mapping = try root.mapping(keys: keys)
            decodeSections(of: mapping, into: &configuration, errors: &errors)
        } catch {
            errors.append(error)
        }
        return (configuration, errors)
    }
}
