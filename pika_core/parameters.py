"""Connection parameters: ``Parameters``, ``ConnectionParameters``, ``URLParameters``, ``SSLOptions``.

The same names, positional order, defaults and validation as pika 1.x's ``pika.connection``
(``pika_core.connection`` re-exports them). Every option is a validated, settable property;
``__slots__`` makes a misspelt attribute an error instead of a silently ignored setting.
A bad value raises TypeError (wrong type) or ValueError (out of range) naming the option.

No password ever appears in a repr, a log line or an exception message built here, and
``URLParameters`` does not keep the URL it was given.
"""

from __future__ import annotations

import ast
import copy
import enum
import logging
import math
import numbers
import re
import ssl
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, NamedTuple, Union

from pika_core import credentials as pika_credentials
from pika_core.recovery.policy import RecoveryPolicy

__all__ = [
    "ConnectionParameters",
    "Parameters",
    "PluginOption",
    "SSLOptions",
    "URLParameters",
    "plugin_options",
    "register_option",
    "unregister_option",
]

LOGGER = logging.getLogger(__name__)

#: The highest channel number AMQP 0-9-1 allows (pika's ``channel.MAX_CHANNELS``).
MAX_CHANNELS = 65535
#: Smallest frame_max a peer must accept (``spec.FRAME_MIN_SIZE``).
FRAME_MIN_SIZE = 4096
#: Largest frame_max this client proposes (``spec.FRAME_MAX_SIZE``).
FRAME_MAX_SIZE = 131072
#: The heartbeat field of connection.tune-ok is an unsigned short.
MAX_HEARTBEAT = 65535
#: Keys ``tcp_options`` may hold; each maps to the socket option of the same name.
TCP_OPTION_NAMES: frozenset[str] = frozenset(
    {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"}
)
#: AMQP short strings (virtual host, locale) hold at most 255 UTF-8 bytes.
_SHORTSTR_MAX = 255

HeartbeatOption = Union[None, int, Callable[[Any, int], int]]


class _Default(enum.Enum):
    """Marks an argument the caller did not pass (None is a meaningful value for several)."""

    DEFAULT = "DEFAULT"


_DEFAULT = _Default.DEFAULT


def _type_name(value: object) -> str:
    return type(value).__name__


def _require_int(value: Any, name: str) -> int:
    """Return ``value`` as an int; bool and non-integers raise TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_type_name(value)}")
    return int(value)


def _require_real(value: Any, name: str) -> float:
    """Return ``value`` as a finite real; TypeError or ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int or a float, got {_type_name(value)}")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return as_float


def _require_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {_type_name(value)}")
    return value


def _require_shortstr(value: Any, name: str) -> str:
    text = _require_str(value, name)
    if len(text.encode("utf-8", "surrogatepass")) > _SHORTSTR_MAX:
        raise ValueError(f"{name} must be at most {_SHORTSTR_MAX} bytes once UTF-8 encoded")
    return text


class SSLOptions:
    """TLS settings: an ``ssl.SSLContext`` and the name to verify and send as SNI.

    ``server_hostname`` defaults to the connection's host. The context is shared, never copied,
    when the parameters are deep-copied (an SSLContext cannot be copied).
    """

    __slots__ = ("context", "server_hostname")

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(
                f"context must be an ssl.SSLContext (for example ssl.create_default_context()), "
                f"got {_type_name(context)}"
            )
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(
                f"server_hostname must be a str or None, got {_type_name(server_hostname)}"
            )
        if context.verify_mode == ssl.CERT_NONE:
            LOGGER.warning(
                "TLS certificate verification is turned off in this SSLContext: "
                "the broker's identity is not checked"
            )
        elif not context.check_hostname:
            LOGGER.warning(
                "TLS host name checking is turned off in this SSLContext: "
                "any certificate from a trusted CA is accepted"
            )
        self.context = context
        self.server_hostname = server_hostname

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} server_hostname={self.server_hostname!r} "
            f"verify_mode={self.context.verify_mode.name} "
            f"check_hostname={self.context.check_hostname}>"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> SSLOptions:
        clone = SSLOptions.__new__(SSLOptions)
        clone.context = self.context
        clone.server_hostname = self.server_hostname
        return clone


# -------------------------------------------------------------------------------------------------
# Options that plugins add to the parameter classes
# -------------------------------------------------------------------------------------------------


class PluginOption(NamedTuple):
    """A keyword option a plugin added to every parameter class (see ``register_option``)."""

    name: str
    #: The plugin that registered it (a second plugin may not take the same name).
    owner: str
    #: What the option reads as until it is set (keep it immutable: it is not copied).
    default: Any
    #: ``validate(value) -> value to store``; raises TypeError/ValueError naming the option.
    validate: Callable[[Any], Any] | None
    #: ``url_parser(text) -> value`` for ``URLParameters`` query options; None: not in URLs.
    url_parser: Callable[[str], Any] | None
    #: Deep copies of the parameters share the value (live objects: interceptors, callables).
    shared: bool


_plugin_options: dict[str, PluginOption] = {}
_plugin_options_lock = threading.Lock()


def register_option(
    name: str,
    default: Any = None,
    validate: Callable[[Any], Any] | None = None,
    *,
    owner: str = "",
    url_parser: Callable[[str], Any] | None = None,
    shared: bool = False,
) -> PluginOption:
    """Let ``ConnectionParameters(name=...)``, ``params.name`` (and a URL query) take an option.

    A plugin calls this when it is imported (its entry-point module), so the option exists
    before any parameters object is built; an unknown keyword makes the core load the
    entry-point plugins before it gives up. Registering a name again with the same ``owner``
    replaces it (a reloaded module); another owner's name, or a built-in one, is a ValueError.
    """
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"an option name must be a public identifier, got {name!r}")
    if validate is not None and not callable(validate):
        raise TypeError(f"validate must be callable(value) -> value, got {validate!r}")
    if url_parser is not None and not callable(url_parser):
        raise TypeError(f"url_parser must be callable(text) -> value, got {url_parser!r}")
    if _is_builtin_option(name):
        raise ValueError(
            f"{name!r} is a built-in connection parameter; choose another name for the option"
        )
    option = PluginOption(name, owner, default, validate, url_parser, bool(shared))
    with _plugin_options_lock:
        existing = _plugin_options.get(name)
        if existing is not None and existing.owner != owner:
            raise ValueError(
                f"connection parameter option {name!r} is registered by {existing.owner!r} "
                f"already; {owner!r} must choose another name"
            )
        _plugin_options[name] = option
    return option


def unregister_option(name: str) -> PluginOption | None:
    """Remove a plugin option (for tests); parameters already built keep their values."""
    with _plugin_options_lock:
        return _plugin_options.pop(name, None)


def plugin_options() -> dict[str, PluginOption]:
    """The options plugins registered so far, by name."""
    return dict(_plugin_options)


def _is_builtin_option(name: str) -> bool:
    for klass in (ConnectionParameters, URLParameters):
        if hasattr(klass, name) or name in klass._EXTRA_OPTIONS:
            return True
    return name in URLParameters._URL_QUERY_PARSERS


def _find_plugin_option(name: str) -> PluginOption | None:
    """The registered option ``name``; the entry-point plugins are loaded first if needed."""
    option = _plugin_options.get(name)
    if option is None:
        _load_plugins()
        option = _plugin_options.get(name)
    return option


def _load_plugins() -> None:
    """Plugins load lazily: make sure the entry points were imported (they register options)."""
    from pika_core.plugins import get_plugin_manager

    get_plugin_manager()


class Parameters:
    """Base of the connection parameter classes: every option with its default.

    To add a keyword-only option later, give a subclass a slot and a validating property for
    it and list it with its default in ``_EXTRA_OPTIONS``; the constructor then sets the
    default, ``ConnectionParameters(**kwargs)`` accepts it, and every other keyword is still
    a TypeError (``_apply_extra_options`` is the one place that decides).

    Plugins add options without a subclass: ``register_option`` (also ``Parameters.
    register_option``) makes ``ConnectionParameters(name=value)`` and ``params.name`` work on
    every parameter class; the values live in one dict per object and are never shown in repr.
    """

    __slots__ = (
        "_blocked_connection_timeout",
        "_channel_max",
        "_client_properties",
        "_connection_attempts",
        "_credentials",
        "_frame_max",
        "_heartbeat",
        "_heartbeat_thread",
        "_host",
        "_locale",
        "_plugin_values",
        "_port",
        "_recovery",
        "_retry_delay",
        "_socket_timeout",
        "_ssl_options",
        "_stack_timeout",
        "_tcp_options",
        "_virtual_host",
    )

    DEFAULT_USERNAME = "guest"
    DEFAULT_PASSWORD = "guest"

    DEFAULT_BLOCKED_CONNECTION_TIMEOUT: float | None = None
    DEFAULT_CHANNEL_MAX = MAX_CHANNELS
    DEFAULT_CLIENT_PROPERTIES: dict[str, Any] | None = None
    DEFAULT_CREDENTIALS = pika_credentials.PlainCredentials(DEFAULT_USERNAME, DEFAULT_PASSWORD)
    DEFAULT_CONNECTION_ATTEMPTS = 1
    DEFAULT_FRAME_MAX = FRAME_MAX_SIZE
    DEFAULT_HEARTBEAT_TIMEOUT: HeartbeatOption = None  # None accepts the broker's proposal
    DEFAULT_HOST = "localhost"
    DEFAULT_LOCALE = "en_US"
    DEFAULT_PORT = 5672
    DEFAULT_RETRY_DELAY = 2.0
    DEFAULT_SOCKET_TIMEOUT: float | None = 10.0  # TCP connect
    DEFAULT_STACK_TIMEOUT: float | None = 15.0  # TCP + TLS + AMQP handshake
    DEFAULT_SSL = False
    DEFAULT_SSL_OPTIONS: SSLOptions | None = None
    DEFAULT_SSL_PORT = 5671
    DEFAULT_VIRTUAL_HOST = "/"
    DEFAULT_TCP_OPTIONS: dict[str, int] | None = None

    #: Keyword-only options beyond pika's, name -> default (see the class docstring).
    _EXTRA_OPTIONS: ClassVar[Mapping[str, Any]] = {"heartbeat_thread": True, "recovery": None}

    register_option = staticmethod(register_option)

    def __init__(self) -> None:
        self._plugin_values: dict[str, Any] = {}
        self.blocked_connection_timeout = self.DEFAULT_BLOCKED_CONNECTION_TIMEOUT
        self.channel_max = self.DEFAULT_CHANNEL_MAX
        self.client_properties = self.DEFAULT_CLIENT_PROPERTIES
        self.connection_attempts = self.DEFAULT_CONNECTION_ATTEMPTS
        self.credentials = self.DEFAULT_CREDENTIALS
        self.frame_max = self.DEFAULT_FRAME_MAX
        self.heartbeat = self.DEFAULT_HEARTBEAT_TIMEOUT
        self.host = self.DEFAULT_HOST
        self.locale = self.DEFAULT_LOCALE
        self.port = self.DEFAULT_PORT
        self.retry_delay = self.DEFAULT_RETRY_DELAY
        self.socket_timeout = self.DEFAULT_SOCKET_TIMEOUT
        self.stack_timeout = self.DEFAULT_STACK_TIMEOUT
        self.ssl_options = self.DEFAULT_SSL_OPTIONS
        self.virtual_host = self.DEFAULT_VIRTUAL_HOST
        self.tcp_options = self.DEFAULT_TCP_OPTIONS
        for name, default in self._EXTRA_OPTIONS.items():
            setattr(self, name, copy.deepcopy(default))

    def _apply_extra_options(self, options: Mapping[str, Any]) -> None:
        """Set keyword-only extras; a name neither in ``_EXTRA_OPTIONS`` nor registered by a
        plugin (entry points loaded first) is a TypeError."""
        extras = self._EXTRA_OPTIONS
        unknown = sorted(
            name for name in options if name not in extras and name not in _plugin_options
        )
        if unknown:
            _load_plugins()
            unknown = [name for name in unknown if name not in _plugin_options]
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise TypeError(
                f"{self.__class__.__name__}() got unexpected keyword argument(s): {names}"
            )
        for name, value in options.items():
            setattr(self, name, value)

    def _set_plugin_option(self, option: PluginOption, value: Any) -> None:
        if option.validate is not None:
            value = option.validate(value)
        self._plugin_values[option.name] = value

    if not TYPE_CHECKING:  # so that mypy still reports misspelt attributes of the core's own

        def __getattr__(self, name: str) -> Any:
            """A plugin option: its value, or its default while unset."""
            option = _plugin_options.get(name)
            if option is None or name.startswith("_"):
                raise AttributeError(
                    f"{self.__class__.__name__!r} object has no attribute {name!r}"
                )
            try:
                values = object.__getattribute__(self, "_plugin_values")
            except AttributeError:
                return option.default
            return values.get(name, option.default)

        def __setattr__(self, name: str, value: Any) -> None:
            option = _plugin_options.get(name)
            if option is None or hasattr(type(self), name):
                object.__setattr__(self, name, value)
            else:
                self._set_plugin_option(option, value)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} host={self.host} port={self.port} "
            f"virtual_host={self.virtual_host} ssl={self.ssl_options is not None}>"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Parameters):
            return self._host == other._host and self._port == other._port
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameters:
        """Copy every option deeply, except the SSLContext and a heartbeat callable (shared)."""
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for klass in type(self).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if slot in ("__weakref__", "__dict__") or not hasattr(self, slot):
                    continue
                value = getattr(self, slot)
                if slot == "_plugin_values":
                    value = _copy_plugin_values(value, memo)
                elif slot != "_heartbeat" or not callable(value):
                    value = copy.deepcopy(value, memo)
                object.__setattr__(clone, slot, value)
        return clone

    def redacted_url(self) -> str:
        """An AMQP URL for logs: scheme, user, host, port and vhost, the password as ``***``."""
        scheme = "amqps" if self._ssl_options is not None else "amqp"
        userinfo = ""
        username = getattr(self._credentials, "username", None)
        if isinstance(username, bytes):
            username = username.decode("utf-8", "replace")
        if isinstance(username, str):
            userinfo = urllib.parse.quote(username, safe="") + ":***@"
        host = f"[{self._host}]" if ":" in self._host else self._host
        vhost = urllib.parse.quote(self._virtual_host, safe="")
        return f"{scheme}://{userinfo}{host}:{self._port}/{vhost}"

    @property
    def blocked_connection_timeout(self) -> float | None:
        """Seconds the broker may keep the connection blocked before it is torn down
        with ConnectionBlockedTimeout; None waits forever."""
        return self._blocked_connection_timeout

    @blocked_connection_timeout.setter
    def blocked_connection_timeout(self, value: float | None) -> None:
        if value is not None and _require_real(value, "blocked_connection_timeout") < 0:
            raise ValueError(f"blocked_connection_timeout must be >= 0 or None, got {value!r}")
        self._blocked_connection_timeout = value

    @property
    def channel_max(self) -> int:
        """Highest channel number to propose in connection.tune-ok (1..65535)."""
        return self._channel_max

    @channel_max.setter
    def channel_max(self, value: int) -> None:
        number = _require_int(value, "channel_max")
        if not 1 <= number <= MAX_CHANNELS:
            raise ValueError(f"channel_max must be from 1 to {MAX_CHANNELS}, got {number}")
        self._channel_max = number

    @property
    def client_properties(self) -> dict[str, Any] | None:
        """Entries merged over the default client properties sent in connection.start-ok."""
        return self._client_properties

    @client_properties.setter
    def client_properties(self, value: dict[str, Any] | None) -> None:
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"client_properties must be a dict or None, got {_type_name(value)}")
        self._client_properties = copy.deepcopy(value)

    @property
    def connection_attempts(self) -> int:
        """How many times to try each connection before giving up (at least 1)."""
        return self._connection_attempts

    @connection_attempts.setter
    def connection_attempts(self, value: int) -> None:
        number = _require_int(value, "connection_attempts")
        if number < 1:
            raise ValueError(f"connection_attempts must be >= 1, got {number}")
        self._connection_attempts = number

    @property
    def credentials(self) -> pika_credentials.Credentials:
        """The SASL credentials (a copy of the object given, so later changes do not leak in)."""
        return self._credentials

    @credentials.setter
    def credentials(self, value: pika_credentials.Credentials) -> None:
        valid = tuple(pika_credentials.VALID_TYPES)
        if not isinstance(value, valid):
            names = ", ".join(klass.__name__ for klass in valid)
            raise TypeError(f"credentials must be an instance of {names}; got {_type_name(value)}")
        self._credentials = copy.deepcopy(value)

    @property
    def frame_max(self) -> int:
        """Largest frame size in bytes to propose (4096..131072)."""
        return self._frame_max

    @frame_max.setter
    def frame_max(self, value: int) -> None:
        number = _require_int(value, "frame_max")
        if not FRAME_MIN_SIZE <= number <= FRAME_MAX_SIZE:
            raise ValueError(
                f"frame_max must be from {FRAME_MIN_SIZE} to {FRAME_MAX_SIZE}, got {number}"
            )
        self._frame_max = number

    @property
    def heartbeat(self) -> HeartbeatOption:
        """None accepts the broker's heartbeat, an int overrides it (0 turns heartbeats off),
        a callable(connection, broker_value) returns the int to use."""
        return self._heartbeat

    @heartbeat.setter
    def heartbeat(self, value: HeartbeatOption) -> None:
        if value is not None and not callable(value):
            number = _require_int(value, "heartbeat")
            if not 0 <= number <= MAX_HEARTBEAT:
                raise ValueError(
                    f"heartbeat must be from 0 to {MAX_HEARTBEAT} seconds, None, or a callable; "
                    f"got {number}"
                )
            value = number
        self._heartbeat = value

    @property
    def host(self) -> str:
        """Host name or IP address of the broker."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        if not _require_str(value, "host"):
            raise ValueError("host must not be empty")
        self._host = value

    @property
    def locale(self) -> str:
        """Locale to request in connection.start-ok."""
        return self._locale

    @locale.setter
    def locale(self, value: str) -> None:
        self._locale = _require_shortstr(value, "locale")

    @property
    def port(self) -> int:
        """TCP port of the broker (5672, or 5671 with TLS, unless given)."""
        return self._port

    @port.setter
    def port(self, value: int | str) -> None:
        if isinstance(value, bool):
            raise TypeError("port must be an int, got bool")
        if (
            isinstance(value, numbers.Integral)
            or isinstance(value, str)
            and value.isascii()
            and value.isdigit()
            or isinstance(value, float)
            and float(value).is_integer()
        ):
            number = int(value)
        else:
            raise TypeError(f"port must be an int (or a str of digits), got {_type_name(value)}")
        if not 1 <= number <= 65535:
            raise ValueError(f"port must be from 1 to 65535, got {number}")
        self._port = number

    @property
    def retry_delay(self) -> float:
        """Seconds to wait between connection attempts."""
        return self._retry_delay

    @retry_delay.setter
    def retry_delay(self, value: float) -> None:
        if _require_real(value, "retry_delay") < 0:
            raise ValueError(f"retry_delay must be >= 0, got {value!r}")
        self._retry_delay = value

    @property
    def socket_timeout(self) -> float | None:
        """Seconds allowed for the TCP connect; None disables the timeout."""
        return self._socket_timeout

    @socket_timeout.setter
    def socket_timeout(self, value: float | None) -> None:
        self._socket_timeout = _positive_timeout(value, "socket_timeout")

    @property
    def stack_timeout(self) -> float | None:
        """Seconds allowed for TCP connect, TLS and AMQP handshake together; None disables."""
        return self._stack_timeout

    @stack_timeout.setter
    def stack_timeout(self, value: float | None) -> None:
        self._stack_timeout = _positive_timeout(value, "stack_timeout")

    @property
    def ssl_options(self) -> SSLOptions | None:
        """None for plain TCP, or SSLOptions for TLS."""
        return self._ssl_options

    @ssl_options.setter
    def ssl_options(self, value: SSLOptions | None) -> None:
        if value is not None and not isinstance(value, SSLOptions):
            raise TypeError(
                f"ssl_options must be None or pika.SSLOptions(ssl_context), got {_type_name(value)}"
            )
        self._ssl_options = value

    @property
    def virtual_host(self) -> str:
        """The RabbitMQ virtual host to open."""
        return self._virtual_host

    @virtual_host.setter
    def virtual_host(self, value: str) -> None:
        self._virtual_host = _require_shortstr(value, "virtual_host")

    @property
    def heartbeat_thread(self) -> bool:
        """Whether BlockingConnection may send heartbeats from a timer thread (pika-core only).

        On (the default), a consumer callback that runs longer than the heartbeat timeout
        keeps its connection; off, no thread is started and pika's behaviour applies.
        """
        return self._heartbeat_thread

    @heartbeat_thread.setter
    def heartbeat_thread(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"heartbeat_thread must be True or False, got {_type_name(value)}")
        self._heartbeat_thread = value

    @property
    def recovery(self) -> RecoveryPolicy | None:
        """The automatic recovery policy (pika-core only); None (the default): no recovery.

        Set a ``RecoveryPolicy``, or True for the default policy; docs/recovery.md.
        """
        return self._recovery

    @recovery.setter
    def recovery(self, value: RecoveryPolicy | bool | None) -> None:
        if value is None or value is False:
            self._recovery = None
        elif value is True:
            self._recovery = RecoveryPolicy()
        elif isinstance(value, RecoveryPolicy):
            self._recovery = value
        else:
            raise TypeError(
                f"recovery must be a pika_core.RecoveryPolicy, True or None, got {_type_name(value)}"
            )

    @property
    def tcp_options(self) -> dict[str, int] | None:
        """Socket options: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT."""
        return self._tcp_options

    @tcp_options.setter
    def tcp_options(self, value: dict[str, int] | None) -> None:
        if value is None:
            self._tcp_options = None
            return
        if not isinstance(value, dict):
            raise TypeError(f"tcp_options must be a dict or None, got {_type_name(value)}")
        unknown = sorted(str(key) for key in value if key not in TCP_OPTION_NAMES)
        if unknown:
            raise ValueError(
                f"tcp_options has unknown key(s) {', '.join(unknown)}; "
                f"use {', '.join(sorted(TCP_OPTION_NAMES))}"
            )
        options: dict[str, int] = {}
        for key, option in value.items():
            number = _require_int(option, f"tcp_options[{key!r}]")
            if number < 0:
                raise ValueError(f"tcp_options[{key!r}] must be >= 0, got {number}")
            options[key] = number
        self._tcp_options = options


def _copy_plugin_values(values: dict[str, Any], memo: dict[int, Any]) -> dict[str, Any]:
    """Deep-copy plugin option values, sharing those registered with ``shared=True``."""
    copied: dict[str, Any] = {}
    for name, value in values.items():
        option = _plugin_options.get(name)
        copied[name] = value if option is not None and option.shared else copy.deepcopy(value, memo)
    return copied


def _positive_timeout(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = _require_real(value, name)
    if seconds <= 0:
        raise ValueError(f"{name} must be > 0 or None, got {value!r}")
    return seconds


class ConnectionParameters(Parameters):
    """Connection parameters given one by one; see ``Parameters`` for the defaults."""

    __slots__ = ()

    _DEFAULT = _DEFAULT

    def __init__(
        self,
        host: str | _Default = _DEFAULT,
        port: int | str | _Default = _DEFAULT,
        virtual_host: str | _Default = _DEFAULT,
        credentials: pika_credentials.Credentials | _Default = _DEFAULT,
        channel_max: int | _Default = _DEFAULT,
        frame_max: int | _Default = _DEFAULT,
        heartbeat: HeartbeatOption | _Default = _DEFAULT,
        ssl_options: SSLOptions | None | _Default = _DEFAULT,
        connection_attempts: int | _Default = _DEFAULT,
        retry_delay: float | _Default = _DEFAULT,
        socket_timeout: float | None | _Default = _DEFAULT,
        stack_timeout: float | None | _Default = _DEFAULT,
        locale: str | _Default = _DEFAULT,
        blocked_connection_timeout: float | None | _Default = _DEFAULT,
        client_properties: dict[str, Any] | None | _Default = _DEFAULT,
        tcp_options: dict[str, int] | None | _Default = _DEFAULT,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if host is not _DEFAULT:
            self.host = host
        if virtual_host is not _DEFAULT:
            self.virtual_host = virtual_host
        if credentials is not _DEFAULT:
            self.credentials = credentials
        if channel_max is not _DEFAULT:
            self.channel_max = channel_max
        if frame_max is not _DEFAULT:
            self.frame_max = frame_max
        if heartbeat is not _DEFAULT:
            self.heartbeat = heartbeat
        if ssl_options is not _DEFAULT:
            self.ssl_options = ssl_options
        if connection_attempts is not _DEFAULT:
            self.connection_attempts = connection_attempts
        if retry_delay is not _DEFAULT:
            self.retry_delay = retry_delay
        if socket_timeout is not _DEFAULT:
            self.socket_timeout = socket_timeout
        if stack_timeout is not _DEFAULT:
            self.stack_timeout = stack_timeout
        if locale is not _DEFAULT:
            self.locale = locale
        if blocked_connection_timeout is not _DEFAULT:
            self.blocked_connection_timeout = blocked_connection_timeout
        if client_properties is not _DEFAULT:
            self.client_properties = client_properties
        if tcp_options is not _DEFAULT:
            self.tcp_options = tcp_options
        # The default port depends on TLS, so it is chosen once ssl_options is known.
        if port is not _DEFAULT:
            self.port = port
        else:
            self.port = self.DEFAULT_SSL_PORT if self.ssl_options else self.DEFAULT_PORT
        self._apply_extra_options(kwargs)


_UNSIGNED = re.compile(r"[0-9]+\Z")
_SIGNED = re.compile(r"-?[0-9]+\Z")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_OPTION_NAME = re.compile(r"[a-z_]{1,40}\Z")
_LITERAL_MAX = 65536

#: Keys the ``ssl_options`` URL option accepts (pairs are two spellings of one setting).
_SSL_URL_KEYS: frozenset[str] = frozenset(
    {
        "protocol",
        "ca_certs",
        "cafile",
        "ca_path",
        "capath",
        "ca_data",
        "cadata",
        "certfile",
        "keyfile",
        "password",
        "ciphers",
        "server_hostname",
    }
)

UrlOptionParser = Callable[["URLParameters", str, str], None]


def _url_part(raw: str, what: str) -> str:
    """Percent-decode one URL component as strict UTF-8; errors never echo the component."""
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"the {what} in the AMQP URL is not valid UTF-8 once percent-decoded"
        ) from None


def _parse_int(text: str, name: str) -> int:
    if not _SIGNED.match(text):
        raise ValueError(f"URL query option {name} must be a whole number written in digits")
    return int(text)


def _parse_seconds(text: str, name: str) -> float:
    if not _DECIMAL.match(text):
        raise ValueError(f"URL query option {name} must be a number of seconds, such as 10 or 2.5")
    return float(text)


def _parse_literal(text: str, name: str) -> Any:
    """Read a Python literal with ``ast.literal_eval`` (never ``eval``); no value is echoed."""
    hint = f"URL query option {name} must be a Python literal dict or None, e.g. {{'key': 1}}"
    if len(text) > _LITERAL_MAX:
        raise ValueError(f"{hint}, at most {_LITERAL_MAX} characters")
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(hint) from None
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{hint}; got a {_type_name(value)}")
    return value


def _set_int(attribute: str) -> UrlOptionParser:
    def parse(params: URLParameters, name: str, text: str) -> None:
        setattr(params, attribute, _parse_int(text, name))

    return parse


def _set_seconds(attribute: str) -> UrlOptionParser:
    def parse(params: URLParameters, name: str, text: str) -> None:
        setattr(params, attribute, _parse_seconds(text, name))

    return parse


def _set_flag(attribute: str) -> UrlOptionParser:
    def parse(params: URLParameters, name: str, text: str) -> None:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            setattr(params, attribute, True)
        elif lowered in ("0", "false", "no", "off"):
            setattr(params, attribute, False)
        else:
            raise ValueError(f"URL query option {name} must be true or false, got {text!r}")

    return parse


def _set_literal(attribute: str) -> UrlOptionParser:
    def parse(params: URLParameters, name: str, text: str) -> None:
        setattr(params, attribute, _parse_literal(text, name))

    return parse


#: URL query option -> RecoveryPolicy argument (each also turns recovery on).
_RECOVERY_URL_SETTINGS: Mapping[str, str] = {
    "recovery_initial_delay": "initial_delay",
    "recovery_multiplier": "multiplier",
    "recovery_max_delay": "max_delay",
    "recovery_jitter": "jitter",
    "recovery_max_attempts": "max_attempts",
    "recovery_blocking_wait": "blocking_wait",
    "recovery_locked_queue_timeout": "locked_queue_timeout",
    "recovery_replay_timeout": "replay_timeout",
}


def _set_recovery(params: URLParameters, name: str, text: str) -> None:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        params._recovery_settings()
    elif lowered in ("0", "false", "no", "off"):
        params.recovery = None
    else:
        raise ValueError(f"URL query option {name} must be on or off, got {text!r}")


def _set_recovery_setting(params: URLParameters, name: str, text: str) -> None:
    argument = _RECOVERY_URL_SETTINGS[name]
    value: Any
    if argument == "max_attempts":
        value = None if text.strip().lower() == "none" else _parse_int(text, name)
    elif argument in ("blocking_wait", "replay_timeout") and text.strip().lower() == "none":
        value = None
    else:
        value = _parse_seconds(text, name)
    params._recovery_settings()[argument] = value


def _set_locale(params: URLParameters, name: str, text: str) -> None:
    params.locale = text


def _set_ssl_options(params: URLParameters, name: str, text: str) -> None:
    options = _parse_literal(text, name)
    if options is None:
        if params.ssl_options is not None:
            raise ValueError("URL query option ssl_options=None contradicts the amqps:// scheme")
        return
    params.ssl_options = _ssl_options_from_dict(options)


def _one_of(options: Mapping[str, Any], first: str, second: str) -> Any:
    if first in options and second in options:
        raise ValueError(f"ssl_options has both {first} and {second}: give only one")
    return options.get(first, options.get(second))


def _optional_str(options: Mapping[str, Any], key: str, allow_bytes: bool = False) -> Any:
    value = options.get(key)
    kinds = (str, bytes) if allow_bytes else (str,)
    if value is not None and not isinstance(value, kinds):
        raise TypeError(f"ssl_options {key} must be a str, got {_type_name(value)}")
    return value


def _ssl_protocol(value: Any) -> ssl._SSLMethod:
    """The ``protocol`` key: an ssl.PROTOCOL_* number or name; server-side protocols rejected."""
    method_type = type(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if isinstance(value, str) and value.startswith("PROTOCOL_"):
            method = method_type[value]
        elif isinstance(value, int) and not isinstance(value, bool):
            method = method_type(value)
        else:
            raise ValueError
    except (KeyError, ValueError):
        raise ValueError(
            "ssl_options protocol must name or number an ssl.PROTOCOL_* constant, "
            "such as 'PROTOCOL_TLS_CLIENT'"
        ) from None
    if method == getattr(ssl, "PROTOCOL_TLS_SERVER", None):
        raise ValueError(
            "ssl_options protocol PROTOCOL_TLS_SERVER is for servers; use PROTOCOL_TLS_CLIENT"
        )
    return method


def _ssl_options_from_dict(options: dict[Any, Any]) -> SSLOptions:
    """Build a verifying SSLContext from the URL's ``ssl_options`` dict (pika's keys)."""
    unknown = sorted(str(key) for key in options if key not in _SSL_URL_KEYS)
    if unknown:
        raise ValueError(
            f"ssl_options has unknown key(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(_SSL_URL_KEYS))}"
        )
    protocol = _ssl_protocol(options.get("protocol", ssl.PROTOCOL_TLS_CLIENT))
    context = ssl.SSLContext(protocol)
    # Verification is always on here: to turn it off, build an SSLContext in code.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True

    cafile = _one_of(options, "ca_certs", "cafile")
    capath = _one_of(options, "ca_path", "capath")
    cadata = _one_of(options, "ca_data", "cadata")
    for key, value, kinds in (
        ("cafile", cafile, (str,)),
        ("capath", capath, (str,)),
        ("cadata", cadata, (str, bytes)),
    ):
        if value is not None and not isinstance(value, kinds):
            raise TypeError(f"ssl_options {key} must be a str, got {_type_name(value)}")
    if cafile is None and capath is None and cadata is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile, capath, cadata)

    certfile = _optional_str(options, "certfile")
    keyfile = _optional_str(options, "keyfile")
    password = _optional_str(options, "password", allow_bytes=True)
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile, password)
    elif keyfile is not None or password is not None:
        raise ValueError("ssl_options keyfile and password need a certfile")

    ciphers = _optional_str(options, "ciphers")
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return SSLOptions(context, _optional_str(options, "server_hostname"))


def _plugin_url_parser(name: str) -> UrlOptionParser | None:
    """A query-option parser for a plugin option registered with ``url_parser``."""
    if not name.isidentifier() or name.startswith("_"):
        return None
    option = _find_plugin_option(name)
    if option is None or option.url_parser is None:
        return None
    parse_text = option.url_parser

    def parse(params: URLParameters, _name: str, text: str) -> None:
        params._set_plugin_option(option, parse_text(text))

    return parse


class URLParameters(Parameters):
    """Connection parameters from an AMQP URI: ``amqp[s]://user:pass@host:port/vhost?options``.

    Percent-encode reserved characters in the user, password and vhost (the default vhost
    "/" is ``%2F``). ``amqps`` turns on TLS with ``ssl.create_default_context()`` (certificate
    and host name verified) and port 5671. Query options: blocked_connection_timeout,
    channel_max, client_properties, connection_attempts, frame_max, heartbeat, locale,
    retry_delay, socket_timeout, ssl_options, stack_timeout, tcp_options; each at most once.
    pika-core adds heartbeat_thread, ``recovery=on`` and its settings recovery_initial_delay,
    recovery_multiplier, recovery_max_delay, recovery_jitter, recovery_max_attempts,
    recovery_blocking_wait, recovery_locked_queue_timeout and recovery_replay_timeout (any of
    them turns recovery on).
    """

    __slots__ = ("_recovery_pending",)

    _recovery_pending: dict[str, Any]

    #: Query option name -> parser(params, name, text) that sets it; extend in a subclass.
    _URL_QUERY_PARSERS: ClassVar[Mapping[str, UrlOptionParser]] = {
        "blocked_connection_timeout": _set_seconds("blocked_connection_timeout"),
        "channel_max": _set_int("channel_max"),
        "client_properties": _set_literal("client_properties"),
        "connection_attempts": _set_int("connection_attempts"),
        "frame_max": _set_int("frame_max"),
        "heartbeat": _set_int("heartbeat"),
        "heartbeat_thread": _set_flag("heartbeat_thread"),
        "locale": _set_locale,
        "recovery": _set_recovery,
        **{name: _set_recovery_setting for name in _RECOVERY_URL_SETTINGS},
        "retry_delay": _set_seconds("retry_delay"),
        "socket_timeout": _set_seconds("socket_timeout"),
        "ssl_options": _set_ssl_options,
        "stack_timeout": _set_seconds("stack_timeout"),
        "tcp_options": _set_literal("tcp_options"),
    }

    def __init__(self, url: str) -> None:
        super().__init__()
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {_type_name(url)}")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(
                "the AMQP URL is malformed (bad port or brackets); percent-encode any "
                "'/', '?', '#', '@' or ':' in the username, password or vhost"
            ) from None
        scheme = parts.scheme.lower()
        if scheme == "amqps":
            self.ssl_options = SSLOptions(ssl.create_default_context())
        elif scheme != "amqp":
            shown = scheme if re.match(r"[a-z][a-z0-9+.-]{0,15}\Z", scheme) else "?"
            raise ValueError(f"unsupported URL scheme {shown!r}: use amqp:// or amqps://")
        if parts.fragment:
            raise ValueError("an AMQP URL has no #fragment: percent-encode '#' as %23")

        if parts.hostname:
            self.host = parts.hostname
        self.port = (
            port
            if port is not None
            else (self.DEFAULT_SSL_PORT if self.ssl_options else self.DEFAULT_PORT)
        )
        if parts.username is not None:
            username = _url_part(parts.username, "username")
            password = _url_part(parts.password or "", "password")
            self.credentials = pika_credentials.PlainCredentials(username, password)
        if len(parts.path) > 1:
            self.virtual_host = _url_part(parts.path.split("/")[1], "virtual host")
        self._apply_url_query(parts.query)

    def _apply_url_query(self, query: str) -> None:
        """Apply each ``name=value`` of the query once; unknown or repeated names are errors."""
        seen = set()
        for piece in query.split("&"):
            if not piece:
                continue
            raw_name, has_value, raw_value = piece.partition("=")
            name = urllib.parse.unquote_plus(raw_name)
            # A name that does not look like an option may be a piece of a mis-encoded password.
            shown = name if _OPTION_NAME.match(name) else "(not shown)"
            parser = self._URL_QUERY_PARSERS.get(name)
            if parser is None:
                parser = _plugin_url_parser(name)
            if parser is None:
                plugin_names = [n for n, o in _plugin_options.items() if o.url_parser is not None]
                raise ValueError(
                    f"unknown URL query option {shown}; known options: "
                    f"{', '.join(sorted([*self._URL_QUERY_PARSERS, *plugin_names]))}"
                )
            if not has_value:
                raise ValueError(f"URL query option {name} needs a value: write {name}=VALUE")
            if name in seen:
                raise ValueError(f"URL query option {name} is given more than once")
            seen.add(name)
            try:
                text = urllib.parse.unquote_to_bytes(raw_value.replace("+", " ")).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"URL query option {name} is not valid UTF-8") from None
            parser(self, name, text)
        pending = getattr(self, "_recovery_pending", None)
        if pending is not None:
            del self._recovery_pending
            try:
                self.recovery = RecoveryPolicy(**pending)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"URL recovery options: {exc}") from None

    def _recovery_settings(self) -> dict[str, Any]:
        """The RecoveryPolicy arguments the query gave so far (validated together at the end)."""
        pending: dict[str, Any] | None = getattr(self, "_recovery_pending", None)
        if pending is None:
            pending = {}
            self._recovery_pending = pending
        return pending
