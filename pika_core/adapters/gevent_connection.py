"""pika's ``pika.adapters.gevent_connection`` path, served by the installed gevent adapter plugin.

``from pika_core.adapters.gevent_connection import GeventConnection`` gives the class registered under
the pika module name ``gevent_connection`` (by pika-gevent, or any plugin that registers it).
Without such a plugin the import fails with an ImportError saying what to install:
``pip install pika-core[gevent]``.
"""

from __future__ import annotations

from typing import Any

from pika_core.plugins import adapter_exports

_exports = adapter_exports("gevent_connection", "GeventConnection")
globals().update(_exports)
__all__ = sorted(_exports)  # noqa: PLE0605 - the names come from the plugin


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"module {__name__!r} has no attribute {name!r}; the plugin serving it exports "
        f"{', '.join(__all__)}"
    )
