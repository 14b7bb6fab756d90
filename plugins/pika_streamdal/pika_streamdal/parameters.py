"""ConnectionParameters that accept the plugin's keyword options (the core's extension mechanism).

``pika_streamdal.ConnectionParameters(interceptors=[...], enable_streamdal=True, ...)`` works
today. ``pika_core.ConnectionParameters`` takes the same names once the core lets a plugin
register extra options (see docs/streamdal.md); the hook layer reads them with ``getattr`` from
either.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, ClassVar, Mapping

from pika_core.parameters import ConnectionParameters as _CoreConnectionParameters
from pika_streamdal.context import CONSUME_DROP_ACTIONS, DROP_POLICIES, ON_ERROR_POLICIES
from pika_streamdal.interceptors import check_interceptor

__all__ = ["STREAMDAL_INSTALL", "ConnectionParameters", "require_streamdal_sdk"]

STREAMDAL_INSTALL = (
    "pip install --no-deps streamdal==0.1.18 streamdal-protos==0.1.36 && "
    'pip install "betterproto==2.0.0b6" grpclib "wasmtime==15.0.0" token-bucket requests '
    '"protobuf==4.25.1"'
)


def require_streamdal_sdk() -> None:
    """ImportError with the working install recipe unless the streamdal SDK is importable."""
    if importlib.util.find_spec("streamdal") is None:
        raise ImportError(
            "enable_streamdal=True needs the streamdal SDK (unmaintained upstream; "
            "`pip install streamdal` no longer resolves). Install it with: " + STREAMDAL_INSTALL,
            name="streamdal",
        )


_OPTIONS: dict[str, Any] = {
    "interceptors": (),
    "enable_streamdal": False,
    "service_name": None,
    "audience_namer": None,
    "on_error": "pass_original",
    "drop_policy": "silent",
    "consume_drop_action": None,
}


class ConnectionParameters(_CoreConnectionParameters):
    """pika_core's ConnectionParameters plus the interception options."""

    __slots__ = (
        "_audience_namer",
        "_consume_drop_action",
        "_drop_policy",
        "_enable_streamdal",
        "_interceptors",
        "_on_error",
        "_service_name",
    )

    _EXTRA_OPTIONS: ClassVar[Mapping[str, Any]] = {
        **_CoreConnectionParameters._EXTRA_OPTIONS,
        **_OPTIONS,
    }

    @property
    def interceptors(self) -> list[Any]:
        """Interceptors (or classes/factories, instantiated per connection) for every channel."""
        return list(self._interceptors)

    @interceptors.setter
    def interceptors(self, value: Any) -> None:
        items = list(value or ())
        for item in items:
            is_factory = isinstance(item, type) or (
                callable(item) and not callable(getattr(item, "on_publish", None))
            )
            if not is_factory:
                check_interceptor(item)
        self._interceptors = tuple(items)

    @property
    def enable_streamdal(self) -> bool:
        """Add a StreamdalInterceptor configured from STREAMDAL_* environment variables."""
        return self._enable_streamdal

    @enable_streamdal.setter
    def enable_streamdal(self, value: bool) -> None:
        if value:
            require_streamdal_sdk()
        self._enable_streamdal = bool(value)

    @property
    def service_name(self) -> str | None:
        """The audience service name (default: STREAMDAL_SERVICE_NAME, then the host's FQDN)."""
        return self._service_name

    @service_name.setter
    def service_name(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"service_name must be a str or None; got {value!r}")
        self._service_name = value

    @property
    def audience_namer(self) -> Callable[..., Any] | None:
        """``callable(ctx) -> Audience`` replacing the default audience."""
        return self._audience_namer

    @audience_namer.setter
    def audience_namer(self, value: Callable[..., Any] | None) -> None:
        if value is not None and not callable(value):
            raise TypeError(f"audience_namer must be callable(ctx) -> Audience; got {value!r}")
        self._audience_namer = value

    @property
    def on_error(self) -> str:
        """ "pass_original" (log, pass the original on) or "raise"."""
        return self._on_error

    @on_error.setter
    def on_error(self, value: str) -> None:
        _choice("on_error", value, ON_ERROR_POLICIES)
        self._on_error = value

    @property
    def drop_policy(self) -> str:
        """ "silent" (basic_publish returns) or "raise" (MessageDropped)."""
        return self._drop_policy

    @drop_policy.setter
    def drop_policy(self, value: str) -> None:
        _choice("drop_policy", value, DROP_POLICIES)
        self._drop_policy = value

    @property
    def consume_drop_action(self) -> str | None:
        """How a dropped delivery is settled (None: reject for manual-ack consumers)."""
        return self._consume_drop_action

    @consume_drop_action.setter
    def consume_drop_action(self, value: str | None) -> None:
        if value is not None:
            _choice("consume_drop_action", value, CONSUME_DROP_ACTIONS)
        self._consume_drop_action = value

    def __deepcopy__(self, memo: dict[int, Any]) -> ConnectionParameters:
        """Deep copy, sharing the interceptor objects and the namer (they hold live state)."""
        shared = (self._interceptors, self._audience_namer)
        for item in shared:
            memo[id(item)] = item
        clone = super().__deepcopy__(memo)
        assert isinstance(clone, ConnectionParameters)
        return clone


def _choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
