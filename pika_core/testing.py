"""A pytest plugin for people writing pika-core plugins: every plugin is tested the same way.

Enable it with ``pytest_plugins = ["pika_core.testing"]`` in a conftest.py (or
``-p pika_core.testing``); it is not auto-loaded, so that importing pika-core never happens
before a test run's coverage measurement starts. It gives
the fixture ``pika_plugin_manager``: a fresh plugin manager holding only the built-in adapters,
installed as the process-wide manager for the duration of one test, so that connections, channels
and pika's adapter module paths (``pika_core.adapters.tornado_connection``) see exactly the
plugins the test registers::

    def test_my_adapter_is_found(pika_plugin_manager):
        pika_plugin_manager.register(my_plugin)
        from pika_core.adapters.tornado_connection import TornadoConnection
        assert TornadoConnection is MyConnection
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

import pika_core.adapters
from pika_core.plugins import (
    PLUGIN_EXTRAS,
    PikaPluginManager,
    new_plugin_manager,
    use_plugin_manager,
)

__all__ = ["ADAPTER_MODULE_PREFIX", "fresh_plugin_manager", "pika_plugin_manager"]

#: Modules under this prefix are dropped from sys.modules around the fixture, so that pika's
#: adapter module paths are looked up again through the test's manager.
ADAPTER_MODULE_PREFIX = "pika_core.adapters."

# The modules that are served by plugins through the registry (not the core's own adapters).
_PLUGIN_SERVED = tuple(PLUGIN_EXTRAS)


def fresh_plugin_manager() -> Iterator[PikaPluginManager]:
    """Install a fresh manager (built-in adapters only) as the process-wide one; restore after."""
    package = vars(pika_core.adapters)
    saved_modules = {}
    saved_attributes = {}
    for name in _PLUGIN_SERVED:
        if ADAPTER_MODULE_PREFIX + name in sys.modules:
            saved_modules[name] = sys.modules.pop(ADAPTER_MODULE_PREFIX + name)
        if name in package:  # `from pika_core.adapters import x` looks here before sys.modules
            saved_attributes[name] = package.pop(name)
    manager = new_plugin_manager()
    try:
        with use_plugin_manager(manager):
            yield manager
    finally:
        for name in _PLUGIN_SERVED:
            sys.modules.pop(ADAPTER_MODULE_PREFIX + name, None)
            package.pop(name, None)
        for name, module in saved_modules.items():
            sys.modules[ADAPTER_MODULE_PREFIX + name] = module
        package.update(saved_attributes)


@pytest.fixture
def pika_plugin_manager() -> Iterator[PikaPluginManager]:
    """A fresh plugin manager, process-wide for this test; register the plugins under test on it."""
    yield from fresh_plugin_manager()
