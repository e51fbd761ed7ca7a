/// Generates Engine.IO session ids and Socket.IO socket ids: 15 random bytes (120 bits from the
/// system's secure generator) in URL-safe base64, 20 characters like the reference server's.
enum SessionID {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 15)
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        var output: [UInt8] = []
        output.reserveCapacity(20)
        for chunk in stride(from: 0, to: 15, by: 3) {
            let value = UInt32(bytes[chunk]) << 16 | UInt32(bytes[chunk + 1]) << 8 | UInt32(bytes[chunk + 2])
            for shift in [18, 12, 6, 0] {
                output.append(alphabet[Int((value >> UInt32(shift)) & 0x3F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
}
