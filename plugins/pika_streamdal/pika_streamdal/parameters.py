"""The plugin's connection-parameter and per-call options, registered on the core's classes.

Importing this module (the package imports it, so loading the entry point is enough) makes
``pika_core.ConnectionParameters(interceptors=[...], enable_streamdal=True, service_name=...)``
work, and lets ``basic_publish``, ``basic_consume``, ``consume`` and ``basic_get`` take
``intercept=`` and ``streamdal_cfg=``. ``pika_streamdal.ConnectionParameters`` stays as an
alias of the core's class for code written against earlier releases.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from pika_core.hooks import register_call_option
from pika_core.parameters import ConnectionParameters, register_option
from pika_streamdal.context import (
    CONSUME_DROP_ACTIONS,
    DROP_POLICIES,
    ON_ERROR_POLICIES,
    InterceptOptions,
)
from pika_streamdal.interceptors import check_interceptor

__all__ = [
    "CALL_OPTIONS",
    "PARAMETER_OPTIONS",
    "STREAMDAL_INSTALL",
    "ConnectionParameters",
    "register_options",
    "require_streamdal_sdk",
]

OWNER = "pika-streamdal"

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


def is_factory(item: Any) -> bool:
    """A class or a factory (called once per connection) rather than an interceptor object."""
    return isinstance(item, type) or (
        callable(item) and not callable(getattr(item, "on_publish", None))
    )


# -- validators (each names its option) -----------------------------------------------------------


def _interceptors(value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value or (), "__iter__"):
        raise TypeError(f"interceptors must be a list of interceptors; got {value!r}")
    items = tuple(value or ())
    for item in items:
        if not is_factory(item):
            check_interceptor(item)
    return items


def _enable_streamdal(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"enable_streamdal must be True or False; got {value!r}")
    if value:
        require_streamdal_sdk()
    return value


def _service_name(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"service_name must be a str or None; got {value!r}")
    return value


def _audience_namer(value: Any) -> Any:
    if value is not None and not callable(value):
        raise TypeError(f"audience_namer must be callable(ctx) -> Audience; got {value!r}")
    return value


def _choice(name: str, choices: tuple[str, ...], optional: bool = False) -> Any:
    def validate(value: Any) -> Any:
        if optional and value is None:
            return None
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value

    return validate


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"enable_streamdal must be true or false, got {text!r}")


def _intercept(value: Any) -> None:
    if value is not None and not isinstance(value, InterceptOptions):
        raise TypeError(f"intercept= takes pika_streamdal.InterceptOptions; got {value!r}")


def _streamdal_cfg(value: Any) -> None:
    if value is not None and not (hasattr(value, "audience") or hasattr(value, "strict_errors")):
        raise TypeError(
            "streamdal_cfg= takes an object with .audience and .strict_errors "
            f"(pika_streamdal.StreamdalRuntimeConfig); got {value!r}"
        )


#: Connection-parameter options: name -> (default, validate, url parser, shared by copies).
PARAMETER_OPTIONS: dict[str, tuple[Any, Any, Any, bool]] = {
    "interceptors": ((), _interceptors, None, True),
    "enable_streamdal": (False, _enable_streamdal, _flag, False),
    "service_name": (None, _service_name, str, False),
    "audience_namer": (None, _audience_namer, None, True),
    "on_error": ("pass_original", _choice("on_error", ON_ERROR_POLICIES), str, False),
    "drop_policy": ("silent", _choice("drop_policy", DROP_POLICIES), str, False),
    "consume_drop_action": (
        None,
        _choice("consume_drop_action", CONSUME_DROP_ACTIONS, optional=True),
        str,
        False,
    ),
}

#: Per-call options of basic_publish, basic_consume, consume and basic_get.
CALL_OPTIONS = {"intercept": _intercept, "streamdal_cfg": _streamdal_cfg}


def register_options() -> None:
    """Register every option with the core (idempotent: the same owner may register again)."""
    for name, (default, validate, url_parser, shared) in PARAMETER_OPTIONS.items():
        register_option(name, default, validate, owner=OWNER, url_parser=url_parser, shared=shared)
    for name, validate in CALL_OPTIONS.items():
        register_call_option(name, owner=OWNER, validate=validate)


register_options()
