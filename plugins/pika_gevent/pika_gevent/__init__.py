"""pika-gevent: ``GeventConnection``, pika-core's callback API on gevent's hub.

Importing this package does not import gevent: the adapter is registered with pika-core as a
lazy ``"module:attr"`` reference, and ``pika_gevent.GeventConnection`` loads on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pika_core.hookspecs import hookimpl
from pika_core.plugins import AdapterSpec

if TYPE_CHECKING:
    from pika_gevent.connection import GeventConnection, GeventIOLoop, GeventIOServices

__version__ = "0.1.0"

__all__ = ["GeventConnection", "GeventIOLoop", "GeventIOServices", "__version__"]

_LAZY = frozenset({"GeventConnection", "GeventIOLoop", "GeventIOServices"})


@hookimpl
def pika_register_adapters() -> list[AdapterSpec]:
    """Serve ``pika_core.adapters.gevent_connection`` without importing gevent yet."""
    return [
        AdapterSpec(
            "gevent",
            "pika_gevent.connection:GeventConnection",
            "gevent_connection",
            {"GeventIOLoop": "pika_gevent.connection:GeventIOLoop"},
        )
    ]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pika_gevent import connection

        return getattr(connection, name)
    raise AttributeError(f"module 'pika_gevent' has no attribute {name!r}")
