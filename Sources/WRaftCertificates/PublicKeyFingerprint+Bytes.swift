extension PublicKeyFingerprint {
    /// The number of bytes of a SHA-256 digest: the binary form of a fingerprint.
    public static let byteCount = 32

    /// A fingerprint from its 32 raw bytes (as a binary encoding carries it); nil for any other
    /// length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(Self.hexDigitCount)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        self.init(hex: text)
    }

    /// The 32 raw bytes of the fingerprint.
    public var bytes: [UInt8] {
        // `hex` is 64 lowercase hex digits by construction, so every pair parses.
        let utf8 = Array(hex.utf8)
        return stride(from: 0, to: utf8.count, by: 2).map { index in
            Self.nibble(utf8[index]) << 4 | Self.nibble(utf8[index + 1])
        }
    }

    private static func nibble(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: preconditionFailure("PublicKeyFingerprint: hex holds lowercase hex digits only")
        }
    }
}
