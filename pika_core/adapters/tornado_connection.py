"""pika's ``pika.adapters.tornado_connection`` path, served by the installed tornado adapter plugin.

``from pika_core.adapters.tornado_connection import TornadoConnection`` gives the class registered under
the pika module name ``tornado_connection`` (by pika-tornado, or any plugin that registers it).
Without such a plugin the import fails with an ImportError saying what to install:
``pip install pika-core[tornado]``.
"""

from __future__ import annotations

from typing import Any

from pika_core.plugins import adapter_exports

_exports = adapter_exports("tornado_connection", "TornadoConnection")
globals().update(_exports)
__all__ = sorted(_exports)  # noqa: PLE0605 - the names come from the plugin


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"module {__name__!r} has no attribute {name!r}; the plugin serving it exports "
        f"{', '.join(__all__)}"
    )
