"""Run in a fresh environment: what pika-core's plugin manager finds of the sample adapter.

Prints one JSON object; tests/packaging/test_third_party_adapter.py asserts on it.
"""

from __future__ import annotations

import json
import sys

if sys.version_info >= (3, 10):
    from importlib import metadata
else:
    import importlib_metadata as metadata

import pika_core
import pika_core.plugins
from pika_core.adapters.base_connection import BaseConnection


def _qualified(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def main() -> None:
    found = pika_core.plugins.adapters()
    spec = found.get("sample-loop")
    manager = pika_core.plugins.get_plugin_manager()
    report: dict[str, object] = {
        "distributions": sorted({dist.metadata["Name"] for dist in metadata.distributions()}),
        "core_file": pika_core.__file__,
        "adapters": sorted(found),
        "provider": manager.adapter_provider("sample-loop"),
        "pika_module": spec.pika_module if spec is not None else None,
        "connection_reference": spec.connection_class if spec is not None else None,
        # Discovery alone must not import the adapter's code: its references are lazy.
        "imported_before_use": sorted(
            name
            for name in ("pika_sample_loop.connection", "pika_sample_loop.loop")
            if name in sys.modules
        ),
    }
    cls = pika_core.plugins.resolve_adapter("sample_loop_connection")
    exports = pika_core.plugins.adapter_exports("sample_loop_connection")
    report.update(
        {
            "resolved": f"{cls.__module__}.{cls.__qualname__}",
            "is_base_connection": issubclass(cls, BaseConnection),
            "exports": {name: _qualified(obj) for name, obj in exports.items()},
            "imported_after_use": "pika_sample_loop.connection" in sys.modules,
        }
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
