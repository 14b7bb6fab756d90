"""A throwaway PKI and a RabbitMQ node with a TLS listener, for the TLS tests.

``make_pki`` writes, with the ``cryptography`` package: a test CA, a server certificate it
signed for ``localhost`` and ``127.0.0.1``, a client certificate it signed (for EXTERNAL
authentication), and a second, unrelated CA that must not be trusted. ``TlsBrokerNode`` is a
``BrokerNode`` that also listens for AMQP over TLS on a port of its own, verifies client
certificates when they are offered (``verify_peer``, none required) and accepts the EXTERNAL
mechanism with the user name taken from the client certificate's common name.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import time
from pathlib import Path

from .nodes import BrokerNode
from .workspace import Workspace

__all__ = ["CLIENT_USER", "Pki", "TlsBrokerNode", "make_pki"]

#: The common name of the client certificate: the user EXTERNAL authentication logs in as.
CLIENT_USER = "pika-tls-client"


class Pki:
    """Paths of the PEM files ``make_pki`` wrote."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_cert = directory / "ca.pem"
        self.server_cert = directory / "server.pem"
        self.server_key = directory / "server.key"
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"
        #: A CA that signed nothing the broker presents.
        self.other_ca_cert = directory / "other-ca.pem"


def make_pki(directory: Path) -> Pki:
    """Generate the CA, server, client and unrelated-CA files in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pika-core tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def builder(
        subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
        )

    def new_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = name(common_name)
        cert = (
            builder(subject, subject, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cert, key

    def issue(
        ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
        common_name: str,
        server: bool,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        ca_cert, ca_key = ca
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert_builder = (
            builder(name(common_name), ca_cert.subject, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if server:
            cert_builder = cert_builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return cert_builder.sign(ca_key, hashes.SHA256()), key

    def write(path: Path, cert: x509.Certificate) -> None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        # The traditional "EC PRIVATE KEY" form: both OpenSSL and Erlang's public_key read it.
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    ca = new_ca("pika-core test CA")
    server_cert, server_key = issue(ca, "localhost", server=True)
    client_cert, client_key = issue(ca, CLIENT_USER, server=False)
    other_ca_cert, _ = new_ca("pika-core untrusted CA")
    write(pki.ca_cert, ca[0])
    write(pki.server_cert, server_cert)
    write_key(pki.server_key, server_key)
    write(pki.client_cert, client_cert)
    write_key(pki.client_key, client_key)
    write(pki.other_ca_cert, other_ca_cert)
    return pki


class TlsBrokerNode(BrokerNode):
    """A node with a TLS listener beside its TCP one, and the EXTERNAL mechanism enabled."""

    def __init__(self, workspace: Workspace, short_name: str, pki: Pki) -> None:
        self.pki = pki
        self.tls_port = workspace.allocate_port()
        super().__init__(
            workspace,
            short_name,
            extra_config={
                "listeners.ssl.default": f"127.0.0.1:{self.tls_port}",
                "ssl_options.cacertfile": str(pki.ca_cert),
                "ssl_options.certfile": str(pki.server_cert),
                "ssl_options.keyfile": str(pki.server_key),
                # Verify a client certificate when one is offered; clients without one are let in.
                "ssl_options.verify": "verify_peer",
                "ssl_options.fail_if_no_peer_cert": "false",
                "auth_mechanisms.1": "PLAIN",
                "auth_mechanisms.2": "AMQPLAIN",
                "auth_mechanisms.3": "EXTERNAL",
                "ssl_cert_login_from": "common_name",
            },
            plugins=["rabbitmq_auth_mechanism_ssl"],
        )

    def __repr__(self) -> str:
        return f"<TlsBrokerNode {self.name} amqp={self.amqp_port} amqps={self.tls_port}>"

    @property
    def tls_address(self) -> tuple[str, int]:
        """(host, port) of the TLS listener."""
        return ("127.0.0.1", self.tls_port)

    def wait_started(self, timeout: float = 120.0) -> None:
        """Also wait for the TLS listener to accept TCP connections."""
        deadline = time.monotonic() + timeout
        super().wait_started(timeout)
        while True:
            try:
                with socket.create_connection(self.tls_address, timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def add_certificate_user(self, user: str = CLIENT_USER) -> None:
        """Create ``user`` (password cleared: only its certificate logs it in) with rights on /."""
        self.ctl("add_user", user, "unused-password")
        self.ctl("clear_password", user)
        self.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
