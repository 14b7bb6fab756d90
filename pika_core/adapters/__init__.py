"""pika's ``pika.adapters`` package: the connection adapters, imported only when first used.

``from pika_core.adapters import SelectConnection`` imports just the select adapter, so that
importing the package pulls in no I/O framework. The adapters of third-party frameworks live in
plugins and are reached by pika's module paths (``pika_core.adapters.tornado_connection``, ...).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AsyncioConnection",
    "BaseConnection",
    "BlockingConnection",
    "IOLoop",
    "SelectConnection",
]

# Exported name -> the module that defines it.
_LAZY_EXPORTS = {
    "AsyncioConnection": "pika_core.adapters.asyncio_connection",
    "BaseConnection": "pika_core.adapters.base_connection",
    "BlockingConnection": "pika_core.adapters.blocking_connection",
    "IOLoop": "pika_core.adapters.select_connection",
    "SelectConnection": "pika_core.adapters.select_connection",
}


def __getattr__(name: str) -> Any:
    """Import an adapter on first access and keep it as a module attribute."""
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"pika_core.adapters.{name} is defined in {module_name}, which failed to import: {exc}",
            name=module_name,
        ) from exc
    try:
        value = getattr(module, name)
    except AttributeError:
        raise ImportError(
            f"pika_core.adapters.{name} should be defined in {module_name}, but that module has "
            f"no {name}; this pika-core installation is incomplete or mixes versions",
            name=module_name,
        ) from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
