public enum ProxyLibrary {
    public static let version = "0.1.0"
}
