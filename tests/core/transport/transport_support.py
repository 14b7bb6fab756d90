"""Helpers for the transport tests: local servers, TLS certificates and loop drivers.

Servers listen on 127.0.0.1 ephemeral ports inside the tests. Certificates are generated per
session with the ``cryptography`` package when it is installed, else with the ``openssl`` CLI.
"""

from __future__ import annotations

import datetime
import ipaddress
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest

from pika_core.adapters import select_connection
from pika_core.adapters.select_connection import IOLoop
from pika_core.adapters.utils.nbio_interface import AbstractStreamProtocol, AbstractStreamTransport

POLLERS = [name for name in ("epoll", "kqueue", "poll", "select") if hasattr(select, name)]


class Certs(NamedTuple):
    certfile: str
    keyfile: str


def _certs_with_cryptography(directory: Path) -> Certs:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certs(str(certfile), str(keyfile))


def _certs_with_openssl(directory: Path) -> Certs:
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(keyfile), "-out", str(certfile),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certs(str(certfile), str(keyfile))


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("tls")
    try:
        return _certs_with_cryptography(directory)
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.fail("TLS tests need the `cryptography` package or the `openssl` CLI")
        return _certs_with_openssl(directory)


def client_context(certs: Certs) -> ssl.SSLContext:
    """A default (verifying, host-name checking) client context trusting the test cert."""
    return ssl.create_default_context(cafile=certs.certfile)


def server_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.certfile, certs.keyfile)
    return context


class Server:
    """A threaded TCP (optionally TLS) server on 127.0.0.1 with a per-connection behaviour.

    ``mode``: "echo" sends back what it reads; "sink" reads and keeps; "close" closes at once
    (EOF); "reset" closes with RST (after 0.1 s); "silent" accepts and never answers; "hello" sends
    ``greeting`` then behaves as "sink".
    """

    def __init__(
        self, mode: str = "echo", tls: ssl.SSLContext | None = None, greeting: bytes = b""
    ) -> None:
        self.mode = mode
        self.tls = tls
        self.greeting = greeting
        self.received = bytearray()
        self.connections: list[socket.socket] = []
        self.handshake_errors: list[BaseException] = []
        self.eofs = 0  # connections the client closed
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.address: tuple[str, int] = self._listener.getsockname()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections.append(conn)
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.handshake_errors.append(exc)
                    conn.close()
                    return
                with self._lock:
                    self.connections.append(conn)
            if self.mode == "close":
                conn.close()
                return
            if self.mode == "reset":
                # Not at once: a reset racing the client's connect() would fail connect() itself
                # (ECONNRESET from SO_ERROR) instead of reaching the transport under test.
                time.sleep(0.1)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                conn.close()
                return
            if self.greeting:
                conn.sendall(self.greeting)
            while True:
                data = conn.recv(65536)
                if not data:
                    with self._lock:
                        self.eofs += 1
                    break
                with self._lock:
                    self.received += data
                if self.mode == "echo":
                    conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # wakes the serving thread's recv()
                except OSError:
                    pass
                conn.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def factory(*args: Any, **kwargs: Any) -> Server:
        server = Server(*args, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


def refused_port() -> int:
    """A 127.0.0.1 port with nothing listening (connecting to it is refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


class FullBacklog:
    """A listener whose accept queue is full, so a further connect never completes."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.address: tuple[str, int] = self.listener.getsockname()
        self.fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(self.address)
            _, writable, _ = select.select([], [filler], [], 0.2)
            self.fillers.append(filler)
            if not writable:
                break  # this one hangs: the queue is full

    def close(self) -> None:
        for sock in self.fillers:
            sock.close()
        self.listener.close()


@pytest.fixture
def full_backlog() -> Iterator[FullBacklog]:
    backlog = FullBacklog()
    yield backlog
    backlog.close()


@pytest.fixture(params=POLLERS)
def ioloop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[IOLoop]:
    """A select IOLoop for each poller available on this platform."""
    monkeypatch.setattr(select_connection, "SELECT_TYPE", request.param)
    loop = IOLoop()
    assert loop.poller_name == request.param
    yield loop
    loop.close()


def spin(loop: IOLoop, until: Callable[[], bool], timeout: float = 5.0) -> None:
    """Drive ``loop`` (poll + timers) until ``until()`` is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        guard = loop.call_later(0.02, lambda: None)
        loop.poll()
        loop.process_timeouts()
        loop.remove_timeout(guard)


class RecordingProtocol(AbstractStreamProtocol):
    """Stream protocol that records every call it gets."""

    def __init__(self, eof_keep_open: bool = False) -> None:
        self.transport: AbstractStreamTransport | None = None
        self.data = bytearray()
        self.chunks: list[bytes] = []
        self.eof = False
        self.lost: list[BaseException | None] = []
        self.calls: list[str] = []
        self.eof_keep_open = eof_keep_open
        self.raise_on_data: BaseException | None = None

    def connection_made(self, transport: AbstractStreamTransport) -> None:
        self.calls.append("connection_made")
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert isinstance(data, bytes) and data
        self.calls.append("data_received")
        self.chunks.append(data)
        self.data += data
        if self.raise_on_data is not None:
            raise self.raise_on_data

    def eof_received(self) -> bool | None:
        self.calls.append("eof_received")
        self.eof = True
        return self.eof_keep_open

    def connection_lost(self, error: BaseException | None) -> None:
        self.calls.append("connection_lost")
        self.lost.append(error)


class FlowProtocol(RecordingProtocol):
    """A RecordingProtocol that also records its pause_writing/resume_writing calls."""

    def __init__(self) -> None:
        super().__init__()
        self.flow: list[str] = []

    def pause_writing(self) -> None:
        self.flow.append("pause")

    def resume_writing(self) -> None:
        self.flow.append("resume")


def connected_socket(address: tuple[str, int], cls: type[socket.socket] = socket.socket) -> Any:
    """A blocking-connected socket, then switched to non-blocking."""
    sock = cls(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(address)
    sock.setblocking(False)
    return sock
