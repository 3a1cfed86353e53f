import Crypto

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as 64 lowercase hex digits.
///
/// A member is known by this fingerprint: it is recorded in the member's record when the member
/// joins, and a frame that claims to come from that member is accepted only on a connection whose
/// TLS peer presented a certificate with the same public key. Keying on the public key rather
/// than the whole certificate lets a member renew its certificate without changing identity.
public struct PublicKeyFingerprint: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The 64 lowercase hex digits.
    public let hex: String

    /// The fingerprint of a DER-encoded SubjectPublicKeyInfo.
    public init(subjectPublicKeyInfoDER: some Sequence<UInt8>) {
        let digest = SHA256.hash(data: Array(subjectPublicKeyInfoDER))
        self.hex = digest.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
        }.joined()
    }

    /// A fingerprint read from untrusted text: exactly 64 hex digits (either case), else nil.
    public init?(hex text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == Self.hexDigitCount, utf8.allSatisfy({ $0.isHexDigit }) else { return nil }
        self.hex = text.lowercased()
    }

    /// The length of the hex form.
    public static let hexDigitCount = 64

    public var description: String { hex }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
