"""pika's ``pika.adapters.twisted_connection`` path, served by the installed twisted plugin.

``from pika_core.adapters.twisted_connection import TwistedProtocolConnection`` (and
TwistedChannel, ClosableDeferredQueue, ReceivedMessage) gives the objects registered under the
pika module name ``twisted_connection`` (by pika-twisted, or any plugin that registers it).
Without such a plugin the import fails with an ImportError saying what to install:
``pip install pika-core[twisted]``.
"""

from __future__ import annotations

from typing import Any

from pika_core.plugins import adapter_exports

_exports = adapter_exports("twisted_connection", "TwistedProtocolConnection")
globals().update(_exports)
__all__ = sorted(_exports)  # noqa: PLE0605 - the names come from the plugin


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"module {__name__!r} has no attribute {name!r}; the plugin serving it exports "
        f"{', '.join(__all__)}"
    )
