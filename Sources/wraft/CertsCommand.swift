import ArgumentParser
import Foundation
import WRaftCertificates

/// `wraft certs`: a cluster CA and the certificates it issues, as PEM files.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Make a cluster certificate authority and issue member and client certificates.",
        discussion: """
            Every member of a cluster presents a certificate issued by the cluster's CA on the \
            raft port (mutual TLS), and HTTPS clients check the node's certificate against the \
            same CA. Keys are P-256, written 0600; a directory made here is 0700. Nothing is ever \
            overwritten. Keep ca-key.pem safe: whoever holds it can make members.
            Examples:
              wraft certs init --dir certs
              wraft certs issue --dir certs --name node1 --host 10.0.0.1,node1.example.com
              wraft serve --host 10.0.0.1 --peer-cert-file certs/node1.pem --peer-key-file certs/node1-key.pem \\
                  --peer-trusted-ca-file certs/ca.pem --cert-file certs/node1.pem --key-file certs/node1-key.pem ...
            Exit codes: 0 done, 64 bad arguments, 65 a malformed or mismatched file, 66 the CA is \
            missing or unreadable, 73 a file exists already, 74 a file cannot be written.
            """,
        subcommands: [CertsInitCommand.self, CertsIssueCommand.self])

    /// sysexits.h codes, one per kind of failure, so scripts can tell them apart.
    enum ExitStatus {
        static let malformedFile: Int32 = 65
        static let missingInput: Int32 = 66
        static let internalFailure: Int32 = 70
        static let fileExists: Int32 = 73
        static let writeFailed: Int32 = 74
        static let badArguments: Int32 = 64
    }

    /// Prints the error and exits with its code.
    static func fail(_ error: WRaftCertificateError) -> ExitCode {
        printToStandardError("Error: \(error)")
        switch error {
        case .invalidName, .invalidHost, .invalidHostCount, .invalidValidity: return ExitCode(ExitStatus.badArguments)
        case .fileExists: return ExitCode(ExitStatus.fileExists)
        case .fileMissing, .unreadable: return ExitCode(ExitStatus.missingInput)
        case .malformed, .notACertificateAuthority, .keyMismatch, .unusable: return ExitCode(ExitStatus.malformedFile)
        case .writeFailed: return ExitCode(ExitStatus.writeFailed)
        case .signingFailed: return ExitCode(ExitStatus.internalFailure)
        }
    }
}

struct CertsInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make a cluster CA: DIR/ca.pem and DIR/ca-key.pem (refuses to overwrite them).",
        discussion: """
            Examples:
              wraft certs init --dir certs
              wraft certs init --dir /etc/wraft/certs --validity-days 1825
            """)

    @Option(help: "The folder for the CA's files (made 0700 if missing).") var dir: String
    @Option(help: "Days the CA is valid (\(CertificateAuthority.validityDaysRange.lowerBound)...\(CertificateAuthority.validityDaysRange.upperBound)).")
    var validityDays: Int = CertificateAuthority.validityDaysDefault

    func validate() throws { try CertsCommand.validate(dir: dir, validityDays: validityDays) }

    func run() throws {
        do throws(WRaftCertificateError) {
            let authority = try CertificateAuthority.make(validityDays: validityDays)
            try CertificateFiles.writeAuthority(authority, to: dir)
        } catch {
            throw CertsCommand.fail(error)
        }
        print("wrote \(CertificateFiles.authorityCertificatePath(in: dir))  (the CA certificate: give it to every member and client)")
        print("wrote \(CertificateFiles.authorityKeyPath(in: dir))  (the CA key, 0600: keep it secret)")
        print("next:  wraft certs issue --dir \(dir) --name node1 --host <node1's address>")
    }
}

struct CertsIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a member or client certificate signed by DIR's CA: DIR/NAME.pem and DIR/NAME-key.pem.",
        discussion: """
            The certificate is valid as a TLS server and client, for every host given (IP \
            addresses become IP SANs, names DNS SANs): list each address and name that peers and \
            clients use to reach the node. Refuses to overwrite existing files.
            Examples:
              wraft certs issue --dir certs --name node1 --host 10.0.0.1
              wraft certs issue --dir certs --name node2 --host 10.0.0.2,node2.example.com,127.0.0.1
              wraft certs issue --dir certs --name ops --host ops.example.com --validity-days 30
            """)

    @Option(help: "The folder holding ca.pem and ca-key.pem (from `wraft certs init`).") var dir: String
    @Option(help: "The certificate's name: its files are NAME.pem and NAME-key.pem ([A-Za-z0-9._-], 1...64).")
    var name: String
    @Option(help: "Comma-separated IP addresses and DNS names the certificate is valid for.") var host: String
    @Option(help: "Days the certificate is valid (it never outlives the CA).")
    var validityDays: Int = CertificateAuthority.issuedValidityDaysDefault

    func validate() throws { try CertsCommand.validate(dir: dir, validityDays: validityDays) }

    func run() throws {
        let hosts: [CertificateHost]
        do throws(WRaftCertificateError) {
            try CertificateFiles.checkName(name)
            hosts = try CertificateHost.parseList(host)
            guard !hosts.isEmpty else { throw WRaftCertificateError.invalidHostCount(0) }
            let authority = try CertificateFiles.readAuthority(from: dir)
            let issued = try authority.issue(name: name, hosts: hosts, validityDays: validityDays)
            try CertificateFiles.writeIssued(issued, name: name, to: dir)
        } catch {
            throw CertsCommand.fail(error)
        }
        let certificate = CertificateFiles.certificatePath(name: name, in: dir)
        let key = CertificateFiles.keyPath(name: name, in: dir)
        print("wrote \(certificate)  (for \(hosts.map(\.description).joined(separator: ", ")))")
        print("wrote \(key)  (0600: keep it on that machine only)")
        print("use:   --peer-cert-file \(certificate) --peer-key-file \(key) --peer-trusted-ca-file \(CertificateFiles.authorityCertificatePath(in: dir))")
    }
}

extension CertsCommand {
    /// The checks `init` and `issue` share: a folder is named, and the validity is in range.
    static func validate(dir: String, validityDays: Int) throws {
        guard !dir.isEmpty else { throw ValidationError("--dir must not be empty") }
        guard CertificateAuthority.validityDaysRange.contains(validityDays) else {
            throw ValidationError("--validity-days must be in \(CertificateAuthority.validityDaysRange)")
        }
    }
}
