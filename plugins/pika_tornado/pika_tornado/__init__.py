"""pika-tornado: ``TornadoConnection``, pika-core's callback API on a Tornado 6 IOLoop.

Importing this package does not import tornado: the adapter is registered with pika-core as a
lazy ``"module:attr"`` reference, and ``pika_tornado.TornadoConnection`` loads on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pika_core.hookspecs import hookimpl
from pika_core.plugins import AdapterSpec

if TYPE_CHECKING:
    from pika_tornado.connection import TornadoConnection, TornadoIOServices

__version__ = "0.1.0"

__all__ = ["TornadoConnection", "TornadoIOServices", "__version__"]

_LAZY = frozenset({"TornadoConnection", "TornadoIOServices"})


@hookimpl
def pika_register_adapters() -> list[AdapterSpec]:
    """Serve ``pika_core.adapters.tornado_connection`` without importing tornado yet."""
    return [
        AdapterSpec("tornado", "pika_tornado.connection:TornadoConnection", "tornado_connection")
    ]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from pika_tornado import connection

        return getattr(connection, name)
    raise AttributeError(f"module 'pika_tornado' has no attribute {name!r}")
