"""pika-twisted: ``TwistedProtocolConnection`` and ``TwistedChannel``, pika-core with Deferreds.

Importing this package does not import twisted: the adapter is registered with pika-core as
lazy ``"module:attr"`` references, and ``pika_twisted.TwistedProtocolConnection`` (and
TwistedChannel, ClosableDeferredQueue, ReceivedMessage) load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pika_core.hookspecs import hookimpl
from pika_core.plugins import AdapterSpec

if TYPE_CHECKING:
    from pika_twisted.channel import ClosableDeferredQueue, ReceivedMessage, TwistedChannel
    from pika_twisted.connection import TwistedProtocolConnection

__version__ = "0.1.0"

__all__ = [
    "ClosableDeferredQueue",
    "ReceivedMessage",
    "TwistedChannel",
    "TwistedProtocolConnection",
    "__version__",
]

_LAZY = {
    "TwistedProtocolConnection": "pika_twisted.connection",
    "TwistedChannel": "pika_twisted.channel",
    "ClosableDeferredQueue": "pika_twisted.channel",
    "ReceivedMessage": "pika_twisted.channel",
}


@hookimpl
def pika_register_adapters() -> list[AdapterSpec]:
    """Serve ``pika_core.adapters.twisted_connection`` without importing twisted yet."""
    extra = {name: f"{module}:{name}" for name, module in _LAZY.items()}
    del extra["TwistedProtocolConnection"]
    return [
        AdapterSpec(
            "twisted",
            "pika_twisted.connection:TwistedProtocolConnection",
            "twisted_connection",
            extra,
        )
    ]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'pika_twisted' has no attribute {name!r}")
