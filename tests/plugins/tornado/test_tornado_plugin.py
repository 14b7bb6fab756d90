"""pika-tornado installs beside the core: it imports, keeps the core's version, registers itself."""

from __future__ import annotations

import importlib
import sys

import pika_core

if sys.version_info >= (3, 10):
    import importlib.metadata as importlib_metadata
else:  # pragma: no cover - exercised on Python < 3.10 only
    import importlib_metadata


def test_imports_with_the_core_version() -> None:
    plugin = importlib.import_module("pika_tornado")
    assert plugin.__version__ == pika_core.__version__
    assert importlib_metadata.version("pika-tornado") == pika_core.__version__


def test_entry_point_in_group_pika_core_is_discoverable() -> None:
    found = [
        ep for ep in importlib_metadata.entry_points(group="pika_core") if ep.name == "tornado"
    ]
    assert [ep.value for ep in found] == ["pika_tornado"]
    assert found[0].load() is importlib.import_module("pika_tornado")


def test_pins_the_core_exactly() -> None:
    requirements = importlib_metadata.requires("pika-tornado") or []
    assert f"pika-core=={pika_core.__version__}" in [r.replace(" ", "") for r in requirements]


def test_its_framework_is_installed_beside_it() -> None:
    framework = importlib.import_module("tornado")
    assert framework.__name__ == "tornado"
    requirements = importlib_metadata.requires("pika-tornado") or []
    assert any(req.replace(" ", "").startswith("tornado>=") for req in requirements)
