"""pika-core-sample-loop: a third-party pika-core adapter, ``SampleLoopConnection`` on ``SchedLoop``.

It plugs in exactly as pika-core's own plugins do: the ``pika_core`` entry point names this
module, whose ``pika_register_adapters`` hook registers the adapter ``sample-loop`` as lazy
``"module:attr"`` references, so that discovering the plugin imports neither the connection nor
the loop. ``pika_core.plugins.resolve_adapter("sample_loop_connection")`` loads the class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pika_core.hookspecs import hookimpl
from pika_core.plugins import AdapterSpec

if TYPE_CHECKING:
    from pika_sample_loop.connection import SampleLoopConnection, SampleLoopIOServices
    from pika_sample_loop.loop import SchedLoop

__version__ = "0.3.0"

__all__ = ["SampleLoopConnection", "SampleLoopIOServices", "SchedLoop", "__version__"]

_LAZY = {
    "SampleLoopConnection": "pika_sample_loop.connection",
    "SampleLoopIOServices": "pika_sample_loop.connection",
    "SchedLoop": "pika_sample_loop.loop",
}


@hookimpl
def pika_register_adapters() -> list[AdapterSpec]:
    """Register ``sample-loop`` for the pika-style module path ``sample_loop_connection``."""
    return [
        AdapterSpec(
            "sample-loop",
            "pika_sample_loop.connection:SampleLoopConnection",
            "sample_loop_connection",
            {"SchedLoop": "pika_sample_loop.loop:SchedLoop"},
        )
    ]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pika_sample_loop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
