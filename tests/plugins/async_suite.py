"""Load the asynchronous scenario suite of tests/core/async_ for a plugin's own driver.

The suite's modules import ``conftest`` and ``drivers`` as top-level names (they are found
through sys.path when pytest collects tests/core/async_). A plugin's test directory has a
conftest of its own, so this loads the suite's conftest under a private name, lends it the name
``conftest`` only while the scenario module is imported, and hands back both modules. A plugin
test module then re-exports the scenarios and defines the ``harness`` fixture for its driver.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

TESTS = pathlib.Path(__file__).resolve().parent.parent
ASYNC_SUITE = TESTS / "core" / "async_"

_loaded: tuple[ModuleType, ModuleType] | None = None


def _load(name: str, path: pathlib.Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_suite() -> tuple[ModuleType, ModuleType]:
    """(the suite's conftest module, its scenario module), loaded once per process."""
    global _loaded
    if _loaded is None:
        for path in (str(TESTS), str(ASYNC_SUITE)):
            if path not in sys.path:
                sys.path.insert(0, path)
        suite_conftest = _load("pika_async_suite_conftest", ASYNC_SUITE / "conftest.py")
        saved = sys.modules.get("conftest")
        sys.modules["conftest"] = suite_conftest
        try:
            scenarios = _load("pika_async_suite_scenarios", ASYNC_SUITE / "test_async_scenarios.py")
        finally:
            if saved is not None:
                sys.modules["conftest"] = saved
            else:
                del sys.modules["conftest"]
        _loaded = (suite_conftest, scenarios)
    return _loaded


def scenario_tests() -> dict[str, object]:
    """The suite's test functions by name, for ``globals().update(...)`` in a plugin's module."""
    _conftest, scenarios = load_suite()
    return {name: obj for name, obj in vars(scenarios).items() if name.startswith("test_")}
