"""The pure parts of the connection handshake: client properties and connection.tune arithmetic.

Kept apart from the state machine so that each negotiation rule is a small function tested on
its own.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Optional, Union

from pika_core import spec
from pika_core._version import __version__
from pika_core.exceptions import AuthenticationError, FrameError, IncompatibleProtocolError

__all__ = [
    "CAPABILITIES",
    "CHANNEL_MAX_LIMIT",
    "FRAME_MIN_SIZE",
    "PRODUCT",
    "PROJECT_URL",
    "ClientHandshake",
    "HeartbeatSetting",
    "build_client_properties",
    "default_client_properties",
    "negotiate_channel_max",
    "negotiate_frame_max",
    "negotiate_heartbeat",
]

#: ``product`` in connection.start-ok's client properties.
PRODUCT = "pika-core"
#: ``information`` in the client properties: where to find the library.
PROJECT_URL = "https://pypi.org/project/pika-core/"
#: Features this client understands, advertised so that RabbitMQ enables them.
CAPABILITIES: dict[str, Any] = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "direct_reply_to": True,
}
#: AMQP frame-min-size: no peer may negotiate a smaller frame_max.
FRAME_MIN_SIZE = 4096
#: The largest channel number the 16-bit channel field can carry.
CHANNEL_MAX_LIMIT = 65535

#: The client's heartbeat wish: None accepts the server's, an int overrides it (0 disables),
#: a callable receives the server's value and returns the int to use.
HeartbeatSetting = Union[None, int, Callable[[int], Optional[int]]]


def default_client_properties() -> dict[str, Any]:
    """The client properties every connection sends unless the caller overrides a key."""
    version = sys.version_info
    return {
        "product": PRODUCT,
        "version": __version__,
        "platform": f"Python {version[0]}.{version[1]}.{version[2]}",
        "information": PROJECT_URL,
        "capabilities": dict(CAPABILITIES),
    }


def build_client_properties(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge the caller's client properties (e.g. ``connection_name``) over the defaults.

    A ``capabilities`` mapping given by the caller is merged key by key, so that adding one
    capability does not silently drop the ones this client depends on.
    """
    properties = default_client_properties()
    if overrides:
        for key, value in overrides.items():
            if key == "capabilities" and isinstance(value, Mapping):
                properties["capabilities"].update(value)
            else:
                properties[key] = value
    return properties


def negotiate_channel_max(client: int, server: int) -> int:
    """The lower non-zero of the two (0 means "no limit"), capped at 65535."""
    if not client or client > CHANNEL_MAX_LIMIT:
        client = CHANNEL_MAX_LIMIT
    if not server or server > CHANNEL_MAX_LIMIT:
        server = CHANNEL_MAX_LIMIT
    return min(server, client)


def negotiate_frame_max(client: int, server: int) -> int:
    """The lower non-zero of the two (0 means "no limit"); a server value under 4096 is refused.

    Raises FrameError(503): a connection.tune proposing a frame_max below the AMQP
    frame-min-size is an invalid command in the handshake; the client answers with
    connection.close 503 COMMAND_INVALID.
    """
    if server and server < FRAME_MIN_SIZE:
        raise FrameError(
            503,
            f"connection.tune proposed frame_max={server}, below the AMQP frame-min-size of "
            f"{FRAME_MIN_SIZE}; fix the server's frame_max setting",
        )
    if not server:
        return client
    if not client:
        return server
    return min(server, client)


def negotiate_heartbeat(client: HeartbeatSetting, server: int) -> int:
    """The heartbeat interval in seconds (0 = disabled), with pika's and RabbitMQ's rules.

    - None: take the server's value.
    - an int: it wins, whatever the server proposed; 0 disables heartbeats.
    - a callable: called with the server's value; its int result is used like an int above,
      and a None result takes the server's value.

    Raises TypeError or ValueError when a callable returns something other than an int in
    0..65535.
    """
    if client is None:
        return server
    if callable(client):
        value = client(server)
        if value is None:
            return server
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"the heartbeat callable returned {value!r}; return an int number of seconds "
                "(0 disables heartbeats) or None to accept the server's value"
            )
        if not 0 <= value <= 65535:
            raise ValueError(f"the heartbeat callable returned {value}; return 0..65535 seconds")
        return value
    return client


def _check_heartbeat(heartbeat: HeartbeatSetting) -> None:
    """Reject a heartbeat setting that is neither None, a callable nor an int in 0..65535."""
    if heartbeat is None or callable(heartbeat):
        return
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int):
        raise TypeError(
            f"heartbeat={heartbeat!r}: use None (accept the server's), an int number of "
            "seconds (0 disables) or a callable(server_value) -> int"
        )
    if not 0 <= heartbeat <= 65535:
        raise ValueError(f"heartbeat={heartbeat} is out of range; use 0..65535 seconds")


class ClientHandshake:
    """The client's wishes for the handshake, validated, and the replies computed from them.

    - ``credentials``: an object with ``response_for(start) -> (mechanism, response)`` or
      ``(None, None)``, such as PlainCredentials or ExternalCredentials; its optional
      ``erase_credentials()`` is called once the connection is open.
    - ``virtual_host``: the vhost named in connection.open.
    - ``channel_max``: the highest channel number wanted (1..65535; 0 means 65535); the lower
      non-zero of this and the server's value is used.
    - ``frame_max``: the largest frame wanted, 4096..4294967295 bytes; the lower non-zero of
      this and the server's value is used.
    - ``heartbeat``: None accepts the server's interval, an int overrides it (0 disables
      heartbeats), a callable receives the server's value and returns the int to use.
    - ``locale``: the locale sent in start-ok.
    - ``client_properties``: merged over the defaults (product, version, platform,
      information and capabilities); put ``connection_name`` here.
    """

    __slots__ = (
        "channel_max",
        "client_properties",
        "credentials",
        "frame_max",
        "heartbeat",
        "locale",
        "response",
        "virtual_host",
    )

    def __init__(
        self,
        credentials: Any,
        virtual_host: str = "/",
        channel_max: int = CHANNEL_MAX_LIMIT,
        frame_max: int = 131072,
        heartbeat: HeartbeatSetting = None,
        locale: str = "en_US",
        client_properties: Mapping[str, Any] | None = None,
    ) -> None:
        if not 0 <= channel_max <= CHANNEL_MAX_LIMIT:
            raise ValueError(f"channel_max={channel_max} is out of range; use 1..65535")
        if not FRAME_MIN_SIZE <= frame_max <= 0xFFFFFFFF:
            raise ValueError(
                f"frame_max={frame_max} is out of range; use {FRAME_MIN_SIZE}..4294967295"
            )
        _check_heartbeat(heartbeat)
        self.credentials = credentials
        self.virtual_host = virtual_host
        self.channel_max = channel_max
        self.frame_max = frame_max
        self.heartbeat = heartbeat
        self.locale = locale
        self.client_properties = build_client_properties(client_properties)
        self.response: bytes | None = None

    def start_ok(self, start: Any) -> Any:
        """The Connection.StartOk answering ``start``.

        Raises IncompatibleProtocolError for a version other than 0-9, AuthenticationError when
        the server offers no mechanism the credentials support, and whatever the credentials
        raise (e.g. when they were erased after an earlier connection).
        """
        if (start.version_major, start.version_minor) != (0, 9):
            raise IncompatibleProtocolError(
                f"the server speaks AMQP {start.version_major}-{start.version_minor}, "
                "this client only 0-9-1",
                (start.version_major, start.version_minor),
            )
        mechanism, response = self.credentials.response_for(start)
        if mechanism is None:
            offered = start.mechanisms
            if isinstance(offered, bytes):
                offered = offered.decode("utf-8", "replace")
            wanted = getattr(self.credentials, "TYPE", type(self.credentials).__name__)
            raise AuthenticationError(wanted, offered)
        self.response = response
        return spec.Connection.StartOk(
            client_properties=self.client_properties,
            mechanism=mechanism,
            response=response,
            locale=self.locale,
        )

    def secure_ok(self) -> Any:
        """The Connection.SecureOk answering a challenge: the credentials' response again."""
        return spec.Connection.SecureOk(response=self.response)

    def tune_ok(self, tune: Any) -> Any:
        """The Connection.TuneOk for the server's ``tune``, with the negotiated values.

        Raises FrameError(503) for a frame_max under 4096, and TypeError/ValueError when the
        heartbeat callable returns an unusable value.
        """
        self.response = None
        return spec.Connection.TuneOk(
            negotiate_channel_max(self.channel_max, tune.channel_max),
            negotiate_frame_max(self.frame_max, tune.frame_max),
            negotiate_heartbeat(self.heartbeat, tune.heartbeat),
        )

    def open(self) -> Any:
        """The Connection.Open for the virtual host."""
        return spec.Connection.Open(virtual_host=self.virtual_host)

    def opened(self) -> None:
        """The connection is open: let the credentials forget their secret if they want to."""
        erase = getattr(self.credentials, "erase_credentials", None)
        if erase is not None:
            erase()
