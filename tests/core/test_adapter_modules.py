"""pika's adapter module paths: pika_core.adapters (lazy exports) and the plugin-served modules
tornado_connection, gevent_connection and twisted_connection; and the pika_core.testing plugin."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys
import textwrap
from typing import Any, Iterator

import pytest

import pika_core.adapters
from pika_core.plugins import AdapterSpec, PikaPluginManager, hookimpl
from pika_core.testing import fresh_plugin_manager

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVED = {
    "tornado": "tornado_connection",
    "gevent": "gevent_connection",
    "twisted": "twisted_connection",
}


@pytest.fixture
def pm() -> Iterator[PikaPluginManager]:
    yield from fresh_plugin_manager()


class FakeTornadoConnection:
    pass


class FakeGeventConnection:
    pass


class FakeTwistedProtocolConnection:
    pass


class FakeTwistedChannel:
    pass


class FakeClosableDeferredQueue:
    pass


class FakeReceivedMessage:
    pass


class FakeFrameworkPlugins:
    """What pika-tornado, pika-gevent and pika-twisted register, with fake classes."""

    @hookimpl
    def pika_register_adapters(self) -> list[AdapterSpec]:
        return [
            AdapterSpec("tornado", FakeTornadoConnection, "tornado_connection"),
            AdapterSpec("gevent", FakeGeventConnection, "gevent_connection"),
            AdapterSpec(
                "twisted",
                FakeTwistedProtocolConnection,
                "twisted_connection",
                {
                    "TwistedChannel": FakeTwistedChannel,
                    "ClosableDeferredQueue": FakeClosableDeferredQueue,
                    "ReceivedMessage": FakeReceivedMessage,
                },
            ),
        ]


@pytest.mark.parametrize("framework", sorted(SERVED))
def test_without_the_plugin_the_import_says_what_to_install(
    pm: PikaPluginManager, framework: str
) -> None:
    with pytest.raises(ImportError) as info:
        importlib.import_module(f"pika_core.adapters.{SERVED[framework]}")
    assert f"pip install pika-core[{framework}]" in str(info.value)
    assert f"pika_core.adapters.{SERVED[framework]}" not in sys.modules


def test_with_the_plugin_pikas_imports_work(pm: PikaPluginManager) -> None:
    pm.register(FakeFrameworkPlugins(), name="frameworks")
    from pika_core.adapters.gevent_connection import GeventConnection
    from pika_core.adapters.tornado_connection import TornadoConnection
    from pika_core.adapters.twisted_connection import (
        ClosableDeferredQueue,
        ReceivedMessage,
        TwistedChannel,
        TwistedProtocolConnection,
    )

    assert TornadoConnection is FakeTornadoConnection
    assert GeventConnection is FakeGeventConnection
    assert TwistedProtocolConnection is FakeTwistedProtocolConnection
    assert TwistedChannel is FakeTwistedChannel
    assert ClosableDeferredQueue is FakeClosableDeferredQueue
    assert ReceivedMessage is FakeReceivedMessage
    twisted = sys.modules["pika_core.adapters.twisted_connection"]
    assert twisted.__all__ == [
        "ClosableDeferredQueue",
        "FakeTwistedProtocolConnection",
        "ReceivedMessage",
        "TwistedChannel",
        "TwistedProtocolConnection",
    ]
    with pytest.raises(AttributeError, match="TwistedChannel"):
        twisted.NotExported  # noqa: B018 - the attribute access is the test


def test_the_connection_class_is_served_under_pikas_name_and_its_own(
    pm: PikaPluginManager,
) -> None:
    class Plugin:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("tornado", FakeTornadoConnection, "tornado_connection")]

    pm.register(Plugin())
    module = importlib.import_module("pika_core.adapters.tornado_connection")
    assert module.TornadoConnection is FakeTornadoConnection
    assert module.FakeTornadoConnection is FakeTornadoConnection
    assert module.__all__ == ["FakeTornadoConnection", "TornadoConnection"]


def test_a_lazy_plugin_whose_framework_is_missing(pm: PikaPluginManager) -> None:
    class Plugin:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            return [
                AdapterSpec(
                    "tornado",
                    "not_installed_tornado.ioloop:TornadoConnection",
                    "tornado_connection",
                )
            ]

    pm.register(Plugin())
    with pytest.raises(ImportError) as info:
        importlib.import_module("pika_core.adapters.tornado_connection")
    assert "not_installed_tornado.ioloop" in str(info.value)
    assert "pip install pika-core[tornado]" in str(info.value)


def test_fresh_plugin_manager_restores_the_module_cache() -> None:
    sentinel: Any = object()
    sys.modules["pika_core.adapters.gevent_connection"] = sentinel
    vars(pika_core.adapters)["gevent_connection"] = sentinel
    try:
        for manager in fresh_plugin_manager():
            manager.register(FakeFrameworkPlugins())
            module = importlib.import_module("pika_core.adapters.gevent_connection")
            assert module is not sentinel
            assert module.GeventConnection is FakeGeventConnection
        assert sys.modules["pika_core.adapters.gevent_connection"] is sentinel
        assert vars(pika_core.adapters)["gevent_connection"] is sentinel
    finally:
        sys.modules.pop("pika_core.adapters.gevent_connection", None)
        vars(pika_core.adapters).pop("gevent_connection", None)


# -- pika_core.adapters lazy exports ---------------------------------------------------------------


def test_adapters_package_exports_pikas_names() -> None:
    assert sorted(pika_core.adapters.__all__) == [
        "AsyncioConnection",
        "BaseConnection",
        "BlockingConnection",
        "IOLoop",
        "SelectConnection",
    ]
    assert set(pika_core.adapters.__all__) <= set(dir(pika_core.adapters))


def test_adapters_package_imports_lazily_and_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pika_core.adapters._LAZY_EXPORTS, "AdapterSpec", "pika_core.plugins")
    try:
        assert pika_core.adapters.AdapterSpec is AdapterSpec
        assert vars(pika_core.adapters)["AdapterSpec"] is AdapterSpec
    finally:
        vars(pika_core.adapters).pop("AdapterSpec", None)


def test_adapters_package_names_the_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        pika_core.adapters._LAZY_EXPORTS, "TrioConnection", "pika_core.adapters.trio_missing"
    )
    with pytest.raises(ImportError, match=r"TrioConnection.*pika_core\.adapters\.trio_missing"):
        from pika_core.adapters import TrioConnection  # noqa: F401


def test_adapters_package_names_the_missing_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pika_core.adapters._LAZY_EXPORTS, "NoSuchThing", "pika_core.plugins")
    with pytest.raises(ImportError, match="pika_core.plugins, but that module has no NoSuchThing"):
        pika_core.adapters.NoSuchThing  # noqa: B018 - the attribute access is the test


def test_adapters_package_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="Nonexistent"):
        pika_core.adapters.Nonexistent  # noqa: B018 - the attribute access is the test


def test_importing_the_adapters_package_imports_no_framework() -> None:
    code = textwrap.dedent(
        """
        import sys
        import pika_core.adapters
        import pika_core.plugins
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tornado", "twisted", "gevent")
                 or m.startswith("pika_core.adapters.") and m != "pika_core.adapters"]
        print(heavy)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the pytest plugin for plugin authors ---------------------------------------------------------------


def test_pytest_plugin_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pika_core.plugins
            from pika_core.plugins import AdapterSpec, hookimpl

            class Connection:
                pass

            class Plugin:
                @hookimpl
                def pika_register_adapters(self):
                    return [AdapterSpec("tornado", Connection, "tornado_connection")]

            def test_fixture_is_the_process_wide_manager(pika_plugin_manager):
                assert pika_core.plugins.get_plugin_manager() is pika_plugin_manager
                assert sorted(pika_plugin_manager.adapters()) == ["asyncio", "blocking", "select"]
                pika_plugin_manager.register(Plugin())
                from pika_core.adapters.tornado_connection import Connection as Found
                assert Found is Connection

            def test_next_test_starts_fresh(pika_plugin_manager):
                assert "tornado" not in pika_plugin_manager.adapters()
                try:
                    import pika_core.adapters.tornado_connection
                except ImportError as exc:
                    assert "pip install pika-core[tornado]" in str(exc)
                else:
                    raise AssertionError("the previous test's plugin leaked")
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "pika_core.testing", "-q")
    result.assert_outcomes(passed=2)
