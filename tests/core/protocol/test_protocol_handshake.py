"""The connection handshake, byte for byte: start-ok, tune negotiation, open, and its failures."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from fake_amqp_server import PROTOCOL_HEADER, SERVER_PROPERTIES, FakeServer, method_frame

from pika_core import __version__, exceptions, spec
from pika_core.credentials import ExternalCredentials, PlainCredentials
from pika_core.frame import encode_method
from pika_core.protocol import ConnectionProtocol, events
from pika_core.protocol.handshake import negotiate_channel_max, negotiate_frame_max


def start(server: FakeServer, mechanisms: bytes = b"PLAIN AMQPLAIN") -> list:  # type: ignore[type-arg]
    server.protocol.connect()
    assert server.take() == PROTOCOL_HEADER
    return server.send_method(
        0,
        spec.Connection.Start(
            server_properties=SERVER_PROPERTIES, mechanisms=mechanisms, locales=b"en_US"
        ),
    )


def tune_ok(server: FakeServer, channel_max: int, frame_max: int, heartbeat: int) -> Any:
    """Send tune; return the TuneOk the client answered with (checked to be followed by Open)."""
    server.send_method(0, spec.Connection.Tune(channel_max, frame_max, heartbeat))
    methods = server.methods()
    assert [m.NAME for _, m in methods] == ["Connection.TuneOk", "Connection.Open"]
    return methods[0][1]


def test_connect_queues_the_protocol_header_exactly() -> None:
    server = FakeServer()
    server.protocol.connect()
    assert server.protocol.data_to_send() == b"AMQP\x00\x00\x09\x01"
    assert server.protocol.data_to_send() == b""
    with pytest.raises(exceptions.ConnectionWrongStateError):
        server.protocol.connect()


def test_start_ok_carries_client_properties_capabilities_and_plain_response() -> None:
    server = FakeServer(
        credentials=PlainCredentials("alice", "s3cret"),
        client_properties={"connection_name": "orders-worker", "capabilities": {"extra": True}},
        locale="fr_FR",
    )
    assert start(server) == []
    ((channel, start_ok),) = server.methods()
    assert channel == 0
    assert start_ok.NAME == "Connection.StartOk"
    assert start_ok.mechanism == "PLAIN"
    assert bytes(start_ok.response) == b"\x00alice\x00s3cret"
    assert start_ok.locale == "fr_FR"
    props = start_ok.client_properties
    assert props["product"] == "pika-core"
    assert props["version"] == __version__
    assert props["platform"] == "Python {}.{}.{}".format(*sys.version_info[:3])
    assert props["information"].startswith("https://")
    assert props["connection_name"] == "orders-worker"
    assert props["capabilities"] == {
        "publisher_confirms": True,
        "exchange_exchange_bindings": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "connection.blocked": True,
        "authentication_failure_close": True,
        "per_consumer_qos": True,
        "direct_reply_to": True,
        "extra": True,
    }
    # And the frame is exactly the codec's encoding of that method.
    assert server.raw == encode_method(0, start_ok)


def test_full_handshake_bytes_and_open_event() -> None:
    server = FakeServer(virtual_host="orders", heartbeat=None)
    start(server)
    server.take()
    server.send_method(0, spec.Connection.Tune(2047, 131072, 60))
    assert server.take() == encode_method(0, spec.Connection.TuneOk(2047, 131072, 60)) + (
        encode_method(0, spec.Connection.Open(virtual_host="orders"))
    )
    assert not server.protocol.is_open
    result = server.send_method(0, spec.Connection.OpenOk(known_hosts="node1"))
    assert result == [events.ConnectionOpened(server.protocol.server_properties, "node1")]
    proto = server.protocol
    assert proto.is_open and proto.known_hosts == "node1"
    assert (proto.channel_max, proto.frame_max, proto.heartbeat) == (2047, 131072, 60)
    assert proto.server_capabilities["publisher_confirms"] is True
    assert proto.server_properties["product"] == "RabbitMQ"


def test_external_credentials_send_empty_response() -> None:
    server = FakeServer(credentials=ExternalCredentials())
    start(server, mechanisms=b"PLAIN EXTERNAL")
    ((_, start_ok),) = server.methods()
    assert start_ok.mechanism == "EXTERNAL"
    assert bytes(start_ok.response or b"") == b""


def test_no_acceptable_mechanism_is_a_terminal_authentication_error() -> None:
    server = FakeServer()
    result = start(server, mechanisms=b"EXTERNAL AMQPLAIN")
    assert len(result) == 1
    exc = result[0].exception
    assert isinstance(result[0], events.ConnectionClosed)
    assert isinstance(exc, exceptions.AuthenticationError)
    assert "PLAIN" in repr(exc)
    assert server.take() == b""  # nothing more to say before login
    assert server.protocol.is_closed


def test_secure_challenge_answered_with_the_credentials_response() -> None:
    server = FakeServer(credentials=PlainCredentials("bob", "pw"))
    start(server)
    server.take()
    server.send_method(0, spec.Connection.Secure(challenge=b"more"))
    assert server.take() == encode_method(0, spec.Connection.SecureOk(response=b"\x00bob\x00pw"))


def test_secret_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="pika_core")
    server = FakeServer(credentials=PlainCredentials("bob", "hunter2-secret"))
    server.handshake()
    server.protocol.update_secret("token-hunter3", "rotate")
    server.take()
    assert "StartOk(<masked>)" in caplog.text
    assert "hunter2-secret" not in caplog.text
    assert "hunter3" not in caplog.text


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        (65535, 2047, 2047),
        (100, 2047, 100),
        (0, 2047, 2047),
        (100, 0, 100),
        (0, 0, 65535),
    ],
)
def test_channel_max_negotiation(client: int, server: int, expected: int) -> None:
    fake = FakeServer(channel_max=client)
    start(fake)
    fake.take()
    assert tune_ok(fake, server, 131072, 60).channel_max == expected
    assert fake.protocol.channel_max == expected


def test_channel_max_above_the_16_bit_field_is_capped() -> None:
    assert negotiate_channel_max(65535, 70000) == 65535


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [(131072, 131072, 131072), (131072, 4096, 4096), (8192, 131072, 8192), (131072, 0, 131072)],
)
def test_frame_max_negotiation(client: int, server: int, expected: int) -> None:
    fake = FakeServer(frame_max=client)
    start(fake)
    fake.take()
    assert tune_ok(fake, 2047, server, 60).frame_max == expected
    assert fake.protocol.frame_max == expected


def test_frame_max_zero_on_both_sides_means_no_limit() -> None:
    assert negotiate_frame_max(0, 0) == 0


def test_frame_max_below_frame_min_size_is_rejected_with_503() -> None:
    server = FakeServer()
    start(server)
    server.take()
    result = server.send_method(0, spec.Connection.Tune(2047, 4095, 60))
    assert isinstance(result[-1].exception, exceptions.FrameError)
    assert result[-1].exception.reply_code == 503
    code, text = server.close_codes()
    assert code == 503 and "4095" in text


@pytest.mark.parametrize(
    ("wanted", "server_value", "expected"),
    [
        (None, 60, 60),  # accept the server's
        (None, 0, 0),
        (10, 60, 10),  # an int overrides
        (120, 60, 120),
        (10, 0, 10),  # the server's 0 gives way to the client's value
        (0, 60, 0),  # an explicit 0 disables
        (lambda server: server // 2, 60, 30),  # a callable gets the server's value
        (lambda server: None, 45, 45),
        (lambda server: 0, 45, 0),
    ],
)
def test_heartbeat_negotiation(wanted: Any, server_value: int, expected: int) -> None:
    fake = FakeServer(heartbeat=wanted)
    start(fake)
    fake.take()
    assert tune_ok(fake, 2047, 131072, server_value).heartbeat == expected
    assert fake.protocol.heartbeat == expected
    deadline = fake.protocol.next_deadline()
    assert (deadline is None) == (expected == 0)


def test_heartbeat_callable_returning_garbage_ends_the_connection() -> None:
    fake = FakeServer(heartbeat=lambda server: "soon")
    start(fake)
    fake.take()
    result = fake.send_method(0, spec.Connection.Tune(2047, 131072, 60))
    assert isinstance(result[-1], events.ConnectionClosed)
    assert isinstance(result[-1].exception, TypeError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel_max": -1},
        {"channel_max": 65536},
        {"frame_max": 4095},
        {"heartbeat": -1},
        {"heartbeat": 70000},
        {"max_inbound_message_size": -1},
    ],
)
def test_constructor_rejects_out_of_range_values(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        ConnectionProtocol(credentials=PlainCredentials("a", "b"), **kwargs)


def test_constructor_rejects_non_int_heartbeat() -> None:
    with pytest.raises(TypeError):
        ConnectionProtocol(credentials=PlainCredentials("a", "b"), heartbeat="60")  # type: ignore[arg-type]


def test_auth_failure_403_during_login_is_probable_authentication_error() -> None:
    server = FakeServer()
    start(server)
    server.take()
    result = server.send_method(
        0, spec.Connection.Close(403, "ACCESS_REFUSED - Login was refused", 0, 0)
    )
    assert server.take() == encode_method(0, spec.Connection.CloseOk())
    assert len(result) == 1 and isinstance(result[0], events.ConnectionClosed)
    exc = result[0].exception
    assert isinstance(exc, exceptions.ProbableAuthenticationError)
    assert exc.args == (
        repr(exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused")),
    )
    assert server.protocol.is_closed
    assert server.send_method(0, spec.Connection.Tune(1, 4096, 0)) == []


def test_vhost_denied_530_after_open_is_probable_access_denied() -> None:
    server = FakeServer(virtual_host="nope")
    start(server)
    server.take()
    tune_ok(server, 2047, 131072, 60)
    result = server.send_method(
        0, spec.Connection.Close(530, "NOT_ALLOWED - vhost nope not found", 10, 40)
    )
    assert server.take() == encode_method(0, spec.Connection.CloseOk())
    exc = result[-1].exception
    assert isinstance(exc, exceptions.ProbableAccessDeniedError)
    assert "530" in exc.args[0] and "ConnectionClosedByBroker" in exc.args[0]


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("init", exceptions.StreamLostError),
        ("await_start", exceptions.IncompatibleProtocolError),
        ("login", exceptions.ProbableAuthenticationError),
        ("open", exceptions.ProbableAccessDeniedError),
        ("opened", exceptions.StreamLostError),
    ],
)
def test_stream_lost_during_handshake_is_named_by_stage(stage: str, expected: type) -> None:
    server = FakeServer()
    if stage != "init":
        server.protocol.connect()
    if stage in ("login", "open"):
        server.send_method(0, spec.Connection.Start(server_properties={}, mechanisms=b"PLAIN"))
    if stage == "open":
        server.send_method(0, spec.Connection.Tune(2047, 131072, 60))
    if stage == "opened":
        server = FakeServer()
        server.handshake()
        server.open_channel(1)
    result = server.protocol.connection_lost(ConnectionResetError(104, "reset"), 5.0)
    assert isinstance(result[-1].exception, expected)
    assert "reset" in repr(result[-1].exception)
    if stage == "opened":
        assert isinstance(result[0], events.ChannelClosed) and result[0].channel == 1
        assert result[0].exception is result[-1].exception
    assert server.protocol.connection_lost(None, 6.0) == []


def test_eof_is_stream_lost() -> None:
    server = FakeServer()
    server.handshake()
    (closed,) = server.protocol.connection_lost(None, 1.0)
    assert isinstance(closed.exception, exceptions.StreamLostError)
    assert "EOF" in str(closed.exception)


def test_server_protocol_header_reply_is_incompatible_protocol() -> None:
    server = FakeServer()
    server.protocol.connect()
    server.take()
    assert server.send(b"AMQP") == []
    result = server.send(b"\x00\x00\x09\x00")
    assert isinstance(result[-1].exception, exceptions.IncompatibleProtocolError)


def test_wrong_version_in_start_is_incompatible_protocol() -> None:
    server = FakeServer()
    server.protocol.connect()
    server.take()
    result = server.send_method(0, spec.Connection.Start(version_major=8, version_minor=0))
    assert isinstance(result[-1].exception, exceptions.IncompatibleProtocolError)
    assert server.take() == b""


def test_close_before_open_aborts_at_once() -> None:
    server = FakeServer()
    start(server)
    server.take()
    result = server.protocol.close()
    assert isinstance(result[-1].exception, exceptions.ConnectionOpenAborted)
    assert server.take() == b""
    with pytest.raises(exceptions.ConnectionWrongStateError):
        server.protocol.close()


def test_methods_out_of_order_in_handshake_are_503() -> None:
    server = FakeServer()
    server.protocol.connect()
    server.take()
    result = server.send(method_frame(0, spec.Connection.Tune(2047, 131072, 60)))
    assert result[-1].exception.reply_code == 503
    assert server.close_codes()[0] == 503


def test_channel_frames_during_handshake_are_504() -> None:
    server = FakeServer()
    start(server)
    server.take()
    result = server.send(method_frame(1, spec.Channel.OpenOk()))
    assert result[-1].exception.reply_code == 504


def test_erase_on_connect_credentials_are_erased_after_open() -> None:
    credentials = PlainCredentials("u", "p", erase_on_connect=True)
    server = FakeServer(credentials=credentials)
    server.handshake()
    assert credentials.username is None and credentials.password is None
