"""A self-signed certificate for one host name, and the TLS contexts of a receiver and of a client
that trusts only it: enough to see which name a sender verifies and announces (SNI)."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class NamedCertificate:
    """A certificate valid for ``host_name`` only (no IP address), written under a directory."""

    host_name: str
    certificate_file: Path
    key_file: Path
    server_names_seen: list[str | None] = field(default_factory=list)
    """The SNI of every TLS handshake the server context answered."""

    def server_context(self) -> ssl.SSLContext:
        """The receiver's side: presents the certificate and records each client's server name."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate_file, self.key_file)

        def record(_: ssl.SSLObject, server_name: str | None, __: ssl.SSLContext) -> None:
            self.server_names_seen.append(server_name)

        context.sni_callback = record
        return context

    def client_context(self) -> ssl.SSLContext:
        """The sender's side: verifies host names as usual, trusting this certificate alone."""
        return ssl.create_default_context(cafile=str(self.certificate_file))


def issue_certificate(host_name: str, directory: Path) -> NamedCertificate:
    """A fresh self-signed certificate (its own CA) for ``host_name``, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file = directory / f"{host_name}.pem"
    key_file = directory / f"{host_name}.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return NamedCertificate(host_name=host_name, certificate_file=certificate_file, key_file=key_file)
