"""AMQP over TLS against a real RabbitMQ TLS listener: every core adapter, verification on.

The node is this module's own (started once, about 20 s) with a throwaway CA, a server
certificate for localhost and 127.0.0.1, and the EXTERNAL mechanism. Round trips carry a
message bigger than 64 KiB (body frames split across TLS records, reads that leave decrypted
bytes in ``pending()``) and a burst of small messages (many frames in one record).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

import pytest

import pika_core as pika
from pika_core import exceptions
from pika_core.adapters.asyncio_connection import AsyncioConnection
from pika_core.adapters.select_connection import SelectConnection
from pika_core.adapters.utils import io_services_utils
from pika_core.adapters.utils.connection_workflow import (
    AMQPConnectionWorkflowFailed,
    AMQPConnectorTransportSetupError,
)
from pika_core.blocking import pump as pump_module
from pika_core.credentials import ExternalCredentials

from .support import Workspace
from .support.tls import CLIENT_USER, Pki, TlsBrokerNode, make_pki

BIG = 1024 * 1024 + 70 * 1024  # > 64 KiB, > frame_max: several body frames, many TLS records
SMALL_COUNT = 2000
#: A read buffer much smaller than a TLS record (16 KiB): most of each record's plaintext is
#: left in the TLS layer after a read and only ``pending()`` tells the reader it is there.
SMALL_READ = 1024
READ_BUFFERS = {"default-reads": None, "small-reads": SMALL_READ}


def bodies() -> list[bytes]:
    """Many small messages, then a big one with a recognisable pattern.

    The big one comes last so that the final TLS records are full ones: a reader that left
    decrypted bytes behind would wait for a socket event that never comes.
    """
    big = bytes(range(256)) * (BIG // 256)
    return [b"small-%05d" % i for i in range(SMALL_COUNT)] + [big]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_node(fault_workspace: Workspace, pki: Pki) -> Iterator[TlsBrokerNode]:
    node = TlsBrokerNode(fault_workspace, f"{fault_workspace.tag}_tls", pki)
    node.start()
    node.add_certificate_user()
    yield node
    node.kill()


def verifying_context(cafile: Path) -> ssl.SSLContext:
    """What an application writes: default verification (chain and host name), one CA file."""
    return ssl.create_default_context(cafile=str(cafile))


def tls_params(
    node: TlsBrokerNode, context: ssl.SSLContext, host: str = "localhost", **kwargs: Any
) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host=host,
        port=node.tls_port,
        ssl_options=pika.SSLOptions(context),
        connection_attempts=1,
        **kwargs,
    )


@pytest.fixture(params=sorted(READ_BUFFERS))
def read_buffer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with the adapters' read buffers as shipped, and again with tiny ones."""
    size = READ_BUFFERS[request.param]
    if size is not None:
        monkeypatch.setattr(pump_module, "RECV_SIZE", size)
        monkeypatch.setattr(io_services_utils, "READ_BUFFER_SIZE", size)
    return str(request.param)


def find_cause(error: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """``error`` or the first ``kind`` among its causes (pika's wrappers included)."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is done for done in seen):
            continue
        seen.append(current)
        if isinstance(current, kind):
            return current
        pending.append(current.__cause__)
        pending.append(current.__context__)
        pending.append(getattr(current, "exception", None))
        pending.extend(getattr(current, "exceptions", ()))
    return None


# --- BlockingConnection ---------------------------------------------------------------------


def blocking_round_trip(connection: pika.BlockingConnection) -> list[bytes]:
    """Publish (with confirms) and consume back ``bodies()`` on one blocking connection."""
    channel = connection.channel()
    channel.confirm_delivery()
    queue = channel.queue_declare("", exclusive=True).method.queue
    sent = bodies()
    for body in sent:
        channel.basic_publish("", queue, body)
    received: list[bytes] = []
    for _method, _properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=30):
        assert body is not None, f"consume went quiet after {len(received)} of {len(sent)}"
        received.append(body)
        if len(received) == len(sent):
            break
    channel.cancel()
    return received


def echo(connection: pika.BlockingConnection, body: bytes) -> bytes | None:
    """Publish ``body`` to a new exclusive queue and get it back."""
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", queue, body)
    method, _properties, received = channel.basic_get(queue, auto_ack=True)
    assert method is not None, "the message did not come back"
    return received


def test_blocking_connection_round_trip_over_tls(
    tls_node: TlsBrokerNode, pki: Pki, read_buffer: str
) -> None:
    connection = pika.BlockingConnection(tls_params(tls_node, verifying_context(pki.ca_cert)))
    try:
        assert connection.is_open
        assert blocking_round_trip(connection) == bodies()
    finally:
        connection.close()


def test_blocking_connection_over_tls_to_the_ip_address(tls_node: TlsBrokerNode, pki: Pki) -> None:
    # The server certificate names 127.0.0.1 too: the IP SAN is what gets checked.
    context = verifying_context(pki.ca_cert)
    with pika.BlockingConnection(tls_params(tls_node, context, host="127.0.0.1")) as connection:
        assert echo(connection, b"by address") == b"by address"


def test_a_context_with_the_wrong_ca_fails_verification(tls_node: TlsBrokerNode, pki: Pki) -> None:
    context = verifying_context(pki.other_ca_cert)
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        pika.BlockingConnection(tls_params(tls_node, context))
    assert "certificate verify failed" in str(failure.value)


def test_the_default_context_verifies_against_the_system_cas(tls_node: TlsBrokerNode) -> None:
    # ssl.create_default_context() without our CA: the broker's certificate is not trusted.
    with pytest.raises(ssl.SSLCertVerificationError):
        pika.BlockingConnection(tls_params(tls_node, ssl.create_default_context()))


def test_a_host_name_mismatch_fails(tls_node: TlsBrokerNode, pki: Pki) -> None:
    # The right CA, but a name the certificate does not carry (sent as SNI and checked).
    params = tls_params(tls_node, verifying_context(pki.ca_cert))
    params.ssl_options = pika.SSLOptions(verifying_context(pki.ca_cert), "broker.example.com")
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        pika.BlockingConnection(params)
    assert "hostname mismatch" in str(failure.value).lower()


def test_turning_verification_off_is_explicit_and_logged(
    tls_node: TlsBrokerNode, caplog: pytest.LogCaptureFixture
) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with caplog.at_level(logging.WARNING):
        params = tls_params(tls_node, context)
    assert any("verification is turned off" in r.getMessage() for r in caplog.records)
    with pika.BlockingConnection(params) as connection:
        assert connection.is_open


# --- URLParameters ------------------------------------------------------------------------------


def test_amqps_url_with_ssl_options_ca_certs(tls_node: TlsBrokerNode, pki: Pki) -> None:
    options = quote(repr({"ca_certs": str(pki.ca_cert)}), safe="")
    url = f"amqps://guest:guest@localhost:{tls_node.tls_port}/%2F?ssl_options={options}"
    params = pika.URLParameters(url)
    assert params.ssl_options is not None
    assert params.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    with pika.BlockingConnection(params) as connection:
        assert echo(connection, b"via amqps://") == b"via amqps://"


def test_amqps_url_without_ssl_options_verifies_by_default(tls_node: TlsBrokerNode) -> None:
    params = pika.URLParameters(f"amqps://guest:guest@localhost:{tls_node.tls_port}/%2F")
    with pytest.raises(ssl.SSLCertVerificationError):
        pika.BlockingConnection(params)


def test_amqps_url_server_hostname_is_checked(tls_node: TlsBrokerNode, pki: Pki) -> None:
    options = quote(
        repr({"ca_certs": str(pki.ca_cert), "server_hostname": "broker.example.com"}), safe=""
    )
    url = f"amqps://guest:guest@127.0.0.1:{tls_node.tls_port}/%2F?ssl_options={options}"
    with pytest.raises(ssl.SSLCertVerificationError) as failure:
        pika.BlockingConnection(pika.URLParameters(url))
    assert "hostname mismatch" in str(failure.value).lower()


# --- EXTERNAL authentication with a client certificate --------------------------------------------


def test_external_auth_with_a_client_certificate(tls_node: TlsBrokerNode, pki: Pki) -> None:
    context = verifying_context(pki.ca_cert)
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    name = "pika-core-tls-external"
    params = tls_params(
        tls_node,
        context,
        credentials=ExternalCredentials(),
        client_properties={"connection_name": name},
    )
    with pika.BlockingConnection(params) as connection:
        assert echo(connection, b"by certificate") == b"by certificate"
        (listed,) = tls_node.api.wait_connections(
            1, lambda c: c.get("user_provided_name") == name, timeout=30
        )
        assert listed["user"] == CLIENT_USER
        assert listed["auth_mechanism"] == "EXTERNAL"
        assert listed["ssl"] is True


def test_external_auth_without_a_client_certificate_is_refused(
    tls_node: TlsBrokerNode, pki: Pki
) -> None:
    params = tls_params(tls_node, verifying_context(pki.ca_cert), credentials=ExternalCredentials())
    with pytest.raises(exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)


# --- the callback adapters: SelectConnection and AsyncioConnection ------------------------------


class RoundTrip:
    """Declare a queue, consume from it, publish ``bodies()``, close when all came back."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self.sent = bodies()
        self.received: list[bytes] = []
        self.open_error: BaseException | None = None
        self.close_reason: BaseException | None = None
        self.connection: Any = None
        self.channel: Any = None

    def on_open(self, connection: Any) -> None:
        self.connection = connection
        connection.channel(on_open_callback=self.on_channel)

    def on_open_error(self, _connection: Any, error: BaseException) -> None:
        self.open_error = error
        self.stop()

    def on_close(self, _connection: Any, reason: BaseException) -> None:
        self.close_reason = reason
        self.stop()

    def on_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.queue_declare("", exclusive=True, callback=self.on_declared)

    def on_declared(self, frame: Any) -> None:
        queue = frame.method.queue
        self.channel.basic_consume(
            queue, self.on_message, auto_ack=True, callback=lambda _f: self.publish(queue)
        )

    def publish(self, queue: str) -> None:
        for body in self.sent:
            self.channel.basic_publish("", queue, body)

    def on_message(self, _channel: Any, _method: Any, _properties: Any, body: bytes) -> None:
        self.received.append(body)
        if len(self.received) == len(self.sent):
            self.connection.close()


def run_select(params: pika.ConnectionParameters, limit: float = 60.0) -> RoundTrip:
    holder: dict[str, SelectConnection] = {}
    scenario = RoundTrip(lambda: holder["connection"].ioloop.stop())
    connection = SelectConnection(
        params,
        on_open_callback=scenario.on_open,
        on_open_error_callback=scenario.on_open_error,
        on_close_callback=scenario.on_close,
    )
    holder["connection"] = connection
    timed_out: list[bool] = []

    def watchdog() -> None:
        timed_out.append(True)
        connection.ioloop.stop()

    timer = connection.ioloop.call_later(limit, watchdog)
    connection.ioloop.start()
    connection.ioloop.remove_timeout(timer)
    assert not timed_out, f"the SelectConnection scenario did not finish in {limit} s"
    return scenario


def run_asyncio(params: pika.ConnectionParameters, limit: float = 60.0) -> RoundTrip:
    async def main() -> RoundTrip:
        done = asyncio.get_running_loop().create_future()

        def stop() -> None:
            if not done.done():
                done.set_result(None)

        scenario = RoundTrip(stop)
        AsyncioConnection(
            params,
            on_open_callback=scenario.on_open,
            on_open_error_callback=scenario.on_open_error,
            on_close_callback=scenario.on_close,
        )
        await asyncio.wait_for(done, limit)
        return scenario

    return asyncio.run(main())


RUNNERS = {"select": run_select, "asyncio": run_asyncio}


@pytest.mark.parametrize("adapter", sorted(RUNNERS))
def test_callback_adapter_round_trip_over_tls(
    adapter: str, tls_node: TlsBrokerNode, pki: Pki, read_buffer: str
) -> None:
    # No heartbeats: a reader that left bytes in the TLS layer must not be rescued by one.
    params = tls_params(tls_node, verifying_context(pki.ca_cert), heartbeat=0)
    scenario = RUNNERS[adapter](params)
    assert scenario.open_error is None
    assert isinstance(scenario.close_reason, exceptions.ConnectionClosedByClient)
    assert len(scenario.received) == len(scenario.sent)
    assert scenario.received == scenario.sent


@pytest.mark.parametrize("adapter", sorted(RUNNERS))
def test_callback_adapter_refuses_the_wrong_ca(
    adapter: str, tls_node: TlsBrokerNode, pki: Pki
) -> None:
    scenario = RUNNERS[adapter](tls_params(tls_node, verifying_context(pki.other_ca_cert)))
    assert scenario.connection is None, "the connection opened with an untrusted certificate"
    # pika's shape: the workflow failed, its last attempt in the transport (TLS) setup phase.
    assert isinstance(scenario.open_error, AMQPConnectionWorkflowFailed)
    assert isinstance(scenario.open_error.exceptions[-1], AMQPConnectorTransportSetupError)
    verification = find_cause(scenario.open_error, ssl.SSLCertVerificationError)
    assert verification is not None, f"no certificate error in {scenario.open_error!r}"
    assert "certificate verify failed" in str(verification)


@pytest.mark.parametrize("adapter", sorted(RUNNERS))
def test_callback_adapter_refuses_a_host_name_mismatch(
    adapter: str, tls_node: TlsBrokerNode, pki: Pki
) -> None:
    params = tls_params(tls_node, verifying_context(pki.ca_cert))
    params.ssl_options = pika.SSLOptions(verifying_context(pki.ca_cert), "broker.example.com")
    scenario = RUNNERS[adapter](params)
    assert scenario.connection is None, "the connection opened with a mismatched host name"
    verification = find_cause(scenario.open_error, ssl.SSLCertVerificationError)
    assert verification is not None, f"no certificate error in {scenario.open_error!r}"
    assert "hostname mismatch" in str(verification).lower()
