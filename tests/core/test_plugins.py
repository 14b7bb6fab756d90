"""pika_core.plugins: registration, validation, adapters, entry-point loading and its policy."""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys
import textwrap
from typing import Any, Iterator

import pluggy
import pytest

import pika_core
from pika_core import plugins
from pika_core.plugins import (
    AdapterSpec,
    PikaPluginManager,
    PluginInfo,
    hookimpl,
    new_plugin_manager,
)
from pika_core.testing import fresh_plugin_manager

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILTIN = {
    "blocking": "blocking_connection",
    "select": "select_connection",
    "asyncio": "asyncio_connection",
}


class FakeConnection:
    """Stands for an adapter's connection class."""


class OtherConnection:
    """Stands for a second adapter's connection class."""


def _adapter_plugin(*specs: AdapterSpec) -> object:
    class AdapterPlugin:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            return list(specs)

    return AdapterPlugin()


@pytest.fixture
def pm() -> PikaPluginManager:
    return new_plugin_manager()


# -- built-in adapters --------------------------------------------------------------------------------


def test_builtin_adapters_are_registered_lazily_by_name(pm: PikaPluginManager) -> None:
    found = pm.adapters()
    assert {name: spec.pika_module for name, spec in found.items()} == BUILTIN
    assert found["select"].connection_class == (
        "pika_core.adapters.select_connection:SelectConnection"
    )
    assert found["blocking"].connection_class_name == "BlockingConnection"
    assert found["asyncio"].connection_class_name == "AsyncioConnection"
    assert pm.adapter_provider("select") == plugins.BUILTIN_PLUGIN_NAME


def test_listing_adapters_imports_no_adapter_module() -> None:
    code = textwrap.dedent(
        """
        import sys
        import pika_core.plugins as p
        assert sorted(p.adapters()) == ["asyncio", "blocking", "select"], p.adapters()
        p.list_plugins()
        loaded = sorted(m for m in sys.modules if m.startswith("pika_core.adapters.")
                        or m.split(".")[0] in ("tornado", "twisted", "gevent", "asyncio"))
        print(loaded)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_fresh_managers_are_independent() -> None:
    first, second = new_plugin_manager(), new_plugin_manager()
    first.register(_adapter_plugin(AdapterSpec("x", FakeConnection, "x_connection")))
    assert "x" in first.adapters()
    assert "x" not in second.adapters()
    assert new_plugin_manager(builtins=False).adapters() == {}


# -- AdapterSpec ----------------------------------------------------------------------------------------


def test_adapter_spec_with_a_class(pm: PikaPluginManager) -> None:
    pm.register(_adapter_plugin(AdapterSpec("fake", FakeConnection, "fake_connection")))
    assert pm.resolve_adapter("fake_connection") is FakeConnection
    assert pm.find_adapter("fake_connection") == pm.adapters()["fake"]
    assert pm.find_adapter("nothing_connection") is None


def test_lazy_reference_is_imported_only_when_resolved(
    pm: PikaPluginManager, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_adapter_mod.py").write_text(
        "class LazyConnection:\n    pass\n\nclass Helper:\n    class Inner:\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_adapter_mod", raising=False)
    spec = AdapterSpec(
        "lazy",
        "lazy_adapter_mod:LazyConnection",
        "lazy_connection",
        {"Inner": "lazy_adapter_mod:Helper.Inner", "Constant": 42},
    )
    pm.register(_adapter_plugin(spec))
    assert pm.adapters()["lazy"] is spec
    assert "lazy_adapter_mod" not in sys.modules
    cls = pm.resolve_adapter("lazy_connection")
    module = sys.modules["lazy_adapter_mod"]
    assert cls is module.LazyConnection
    exports = pm.adapter_exports("lazy_connection")
    assert exports == {
        "LazyConnection": module.LazyConnection,
        "Inner": module.Helper.Inner,
        "Constant": 42,
    }


def test_lazy_reference_to_a_missing_module_says_what_to_install(pm: PikaPluginManager) -> None:
    spec = AdapterSpec(
        "tornado", "no_such_framework.adapter:TornadoConnection", "tornado_connection"
    )
    pm.register(_adapter_plugin(spec))
    with pytest.raises(ImportError) as info:
        pm.resolve_adapter("tornado_connection")
    message = str(info.value)
    assert "no_such_framework.adapter" in message
    assert "'tornado'" in message
    assert "pip install pika-core[tornado]" in message


def test_lazy_reference_to_a_missing_attribute(pm: PikaPluginManager) -> None:
    spec = AdapterSpec("broken", "pika_core.plugins:NoSuchConnection", "broken_connection")
    pm.register(_adapter_plugin(spec))
    with pytest.raises(ImportError, match="pika_core.plugins has no NoSuchConnection"):
        pm.resolve_adapter("broken_connection")


def test_connection_class_reference_must_be_a_class(pm: PikaPluginManager) -> None:
    spec = AdapterSpec("odd", "pika_core.plugins:ENTRY_POINT_GROUP", "odd_connection")
    pm.register(_adapter_plugin(spec))
    with pytest.raises(TypeError, match="not a class"):
        pm.resolve_adapter("odd_connection")


def test_unknown_pika_module_raises_import_error_with_advice(pm: PikaPluginManager) -> None:
    with pytest.raises(ImportError, match=r"pip install pika-core\[gevent\]"):
        pm.resolve_adapter("gevent_connection")
    with pytest.raises(ImportError, match="python -m pika_core plugins"):
        pm.resolve_adapter("trio_connection")


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("", FakeConnection, "x_connection"), ValueError, "non-empty"),
        (
            ("x", FakeConnection, "pika_core.adapters.x_connection"),
            ValueError,
            "tornado_connection",
        ),
        (("x", "module_without_colon", "x_connection"), ValueError, "module:Attribute"),
        (("x", 42, "x_connection"), TypeError, "connection_class must be a class"),
        (("x", FakeConnection, "x_connection", {"not an identifier": 1}), TypeError, "extra"),
        (("x", FakeConnection, "x_connection", ["TwistedChannel"]), TypeError, "extra"),
    ],
)
def test_adapter_spec_validates_its_fields(
    args: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AdapterSpec(*args)


def test_adapter_spec_validates_extra_references() -> None:
    with pytest.raises(ValueError, match="TwistedChannel"):
        AdapterSpec("t", FakeConnection, "t_connection", {"TwistedChannel": "no colon here"})


# -- adapter registry policy -------------------------------------------------------------------------


def test_later_registration_overrides_with_a_warning(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    pm.register(_adapter_plugin(AdapterSpec("fast", FakeConnection, "fast_connection")), "one")
    pm.register(_adapter_plugin(AdapterSpec("fast", OtherConnection, "fast_connection")), "two")
    with caplog.at_level(logging.WARNING, logger="pika_core.plugins"):
        assert pm.resolve_adapter("fast_connection") is OtherConnection
    assert pm.adapter_provider("fast") == "two"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "'one'" in warning.getMessage()
    assert "'two'" in warning.getMessage()


def test_override_of_a_builtin_module_under_another_name(pm: PikaPluginManager) -> None:
    pm.register(_adapter_plugin(AdapterSpec("my-select", FakeConnection, "select_connection")))
    found = pm.adapters()
    assert "select" not in found
    assert pm.resolve_adapter("select_connection") is FakeConnection
    assert set(found) == {"blocking", "asyncio", "my-select"}


def test_unregister_removes_the_plugins_adapters(pm: PikaPluginManager) -> None:
    plugin = _adapter_plugin(AdapterSpec("gone", FakeConnection, "gone_connection"))
    pm.register(plugin, name="temporary")
    assert "gone" in pm.adapters()
    pm.unregister(name="temporary")
    assert "gone" not in pm.adapters()
    assert set(pm.adapters()) == set(BUILTIN)


def test_a_raising_registration_hook_is_logged_and_skipped(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            raise RuntimeError("cannot register")

    pm.register(Broken(), name="broken-adapters")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        found = pm.adapters()
    assert set(found) == set(BUILTIN)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "'broken-adapters'" in record.getMessage()
    assert "pika_register_adapters" in record.getMessage()


@pytest.mark.parametrize(
    "returned",
    [AdapterSpec("single", FakeConnection, "single_connection"), "tornado", [object()]],
)
def test_registration_must_return_a_list_of_adapter_specs(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture, returned: object
) -> None:
    class Wrong:
        @hookimpl
        def pika_register_adapters(self) -> object:
            return returned

    pm.register(Wrong(), name="wrong-type")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        assert set(pm.adapters()) == set(BUILTIN)
    assert any(
        "'wrong-type'" in r.getMessage() and "AdapterSpec" in r.getMessage() for r in caplog.records
    )


# -- validation ----------------------------------------------------------------------------------------


def test_a_misspelt_hook_is_rejected_with_the_list_of_hooks(pm: PikaPluginManager) -> None:
    class Typo:
        @hookimpl
        def pika_before_pubish(self, context: Any) -> None:
            pass

    plugin = Typo()
    with pytest.raises(pluggy.PluginValidationError) as info:
        pm.register(plugin, name="typo")
    assert "pika_before_pubish" in str(info.value)
    assert "pika_before_publish" in str(info.value)
    assert not pm.is_registered(plugin)


@pytest.mark.parametrize("new_style", [True, False])
def test_wrapper_implementations_are_rejected(pm: PikaPluginManager, new_style: bool) -> None:
    class Wrapper:
        @hookimpl(wrapper=new_style, hookwrapper=not new_style)
        def pika_channel_opened(self, channel: Any) -> Iterator[None]:
            yield

    plugin = Wrapper()
    with pytest.raises(pluggy.PluginValidationError, match="plain implementation"):
        pm.register(plugin)
    assert not pm.is_registered(plugin)


def test_undecorated_pika_functions_are_implementations(pm: PikaPluginManager) -> None:
    calls: list[Any] = []

    class Plain:
        not_a_hook = "pika_"
        pika_version = "1.0"  # an attribute, not a function: ignored

        def pika_channel_opened(self, channel: Any) -> None:
            calls.append(channel)

        def helper(self) -> None:
            pass

    pm.register(Plain(), name="plain")
    pm.call_each("pika_channel_opened", channel="ch")
    assert calls == ["ch"]
    (info,) = [i for i in pm.list_plugins() if i.name == "plain"]
    assert info.hooks == ("pika_channel_opened",)


def test_optional_unknown_hooks_are_allowed(pm: PikaPluginManager) -> None:
    class Future:
        @hookimpl(optionalhook=True)
        def pika_hook_of_a_later_version(self) -> None:
            pass

    assert pm.register(Future(), name="future") == "future"


# -- listing -------------------------------------------------------------------------------------------


def test_list_plugins_reports_name_version_hooks_and_adapters(pm: PikaPluginManager) -> None:
    class Instrumentation:
        __version__ = "2.5.0"

        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            return [
                AdapterSpec("zeta", FakeConnection, "zeta_connection"),
                AdapterSpec("alpha", OtherConnection, "alpha_connection"),
            ]

        @hookimpl
        def pika_on_delivery(self, context: Any) -> None:
            pass

        @hookimpl
        def pika_before_publish(self, context: Any) -> None:
            pass

    class Anonymous:
        @hookimpl
        def pika_channel_closed(self, channel: Any, exception: BaseException) -> None:
            pass

    pm.register(Instrumentation(), name="instrumentation")
    pm.register(Anonymous(), name="anonymous")
    assert pm.list_plugins() == [
        PluginInfo(
            plugins.BUILTIN_PLUGIN_NAME,
            pika_core.__version__,
            "pika-core",
            ("pika_register_adapters",),
            ("asyncio", "blocking", "select"),
        ),
        PluginInfo(
            "instrumentation",
            "2.5.0",
            None,
            ("pika_before_publish", "pika_on_delivery", "pika_register_adapters"),
            ("alpha", "zeta"),
        ),
        PluginInfo("anonymous", None, None, ("pika_channel_closed",), ()),
    ]


def test_blocked_plugins_are_not_listed(pm: PikaPluginManager) -> None:
    pm.set_blocked("blocked-one")
    assert pm.register(_adapter_plugin(), name="blocked-one") is None
    assert [info.name for info in pm.list_plugins()] == [plugins.BUILTIN_PLUGIN_NAME]


# -- entry points ----------------------------------------------------------------------------------------


def _fake_distribution(
    site: pathlib.Path, dist: str, version: str, entry_points: dict[str, str]
) -> None:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[pika_core]\n{lines}")


@pytest.fixture
def site(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A directory on sys.path with fake plugin distributions and their modules."""
    (tmp_path / "good_plugin.py").write_text(
        textwrap.dedent(
            """
            from pika_core.plugins import AdapterSpec, hookimpl

            @hookimpl
            def pika_register_adapters():
                return [AdapterSpec("good", "good_plugin:GoodConnection", "good_connection")]

            @hookimpl
            def pika_channel_opened(channel):
                pass

            class GoodConnection:
                pass
            """
        )
    )
    (tmp_path / "crashing_plugin.py").write_text("raise RuntimeError('broken at import')\n")
    (tmp_path / "typo_plugin.py").write_text("def pika_conection_opened(connection):\n    pass\n")
    (tmp_path / "reentrant_plugin.py").write_text(
        textwrap.dedent(
            """
            import pika_core.plugins

            MANAGER_SEEN_AT_IMPORT = pika_core.plugins.get_plugin_manager()

            def pika_connection_created(connection):
                pass
            """
        )
    )
    _fake_distribution(tmp_path, "pika-good", "1.2.3", {"good": "good_plugin"})
    _fake_distribution(tmp_path, "pika-crashing", "0.1", {"crashing": "crashing_plugin"})
    _fake_distribution(tmp_path, "pika-typo", "0.2", {"typo": "typo_plugin"})
    _fake_distribution(tmp_path, "pika-missing", "0.3", {"missing": "no_such_plugin_module"})
    for module in ("good_plugin", "crashing_plugin", "typo_plugin", "reentrant_plugin"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_points_load_one_by_one_and_broken_ones_are_skipped(
    site: pathlib.Path, pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        loaded = pm.load_entrypoints()
    assert loaded == ["good"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("'crashing'" in m and "pika-crashing" in m for m in messages)
    assert any("'missing'" in m and "no_such_plugin_module" in m for m in messages)
    assert any("'typo'" in m for m in messages)
    assert len(messages) == 3
    (good,) = [info for info in pm.list_plugins() if info.name == "good"]
    assert good == PluginInfo(
        "good", "1.2.3", "pika-good", ("pika_channel_opened", "pika_register_adapters"), ("good",)
    )
    assert pm.resolve_adapter("good_connection").__name__ == "GoodConnection"
    assert pm.load_entrypoints() == []  # loaded once: a second call finds nothing new


def test_allowlist_by_entry_point_or_distribution_name(
    site: pathlib.Path, pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pika_core.plugins"):
        assert pm.load_entrypoints(allowlist=["pika_good", "not-installed"]) == ["good"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not-installed" in warnings[0]
    assert "good" in warnings[0]
    assert "crashing_plugin" not in sys.modules  # not listed: never imported
    other = new_plugin_manager()
    assert other.load_entrypoints(allowlist=["good"]) == ["good"]


@pytest.fixture
def no_global_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process-wide manager for one test (restored afterwards)."""
    monkeypatch.setattr(plugins, "_manager", None)
    for name in ("PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", "PIKA_CORE_PLUGINS", "PIKA_CORE_TRACE_HOOKS"):
        monkeypatch.delenv(name, raising=False)


def test_get_plugin_manager_loads_entry_points_once(
    site: pathlib.Path, no_global_manager: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.CRITICAL, logger="pika_core.plugins"):
        manager = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is manager
    assert manager.get_plugin("good") is not None
    assert "good" in plugins.adapters()
    assert plugins.resolve_adapter("good_connection").__name__ == "GoodConnection"
    assert plugins.list_plugins()[0].name == plugins.BUILTIN_PLUGIN_NAME


def test_disable_autoload_env(
    site: pathlib.Path, no_global_manager: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = plugins.get_plugin_manager()
    assert manager.get_plugin("good") is None
    assert set(manager.adapters()) == set(BUILTIN)
    with pytest.raises(ImportError, match="autoloading is off"):
        manager.resolve_adapter("tornado_connection")


def test_allowlist_and_trace_env(
    site: pathlib.Path, no_global_manager: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIKA_CORE_PLUGINS", " good , ")
    monkeypatch.setenv("PIKA_CORE_TRACE_HOOKS", "yes")
    manager = plugins.get_plugin_manager()
    assert [info.name for info in manager.list_plugins()] == [plugins.BUILTIN_PLUGIN_NAME, "good"]
    assert manager.trace_hooks is True


def test_a_plugin_may_ask_for_the_manager_while_it_is_being_loaded(
    site: pathlib.Path, no_global_manager: None, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_distribution(site, "pika-reentrant", "1.0", {"reentrant": "reentrant_plugin"})
    with caplog.at_level(logging.CRITICAL, logger="pika_core.plugins"):
        manager = plugins.get_plugin_manager()
    module = sys.modules["reentrant_plugin"]
    assert module.MANAGER_SEEN_AT_IMPORT is manager
    assert manager.get_plugin("reentrant") is module


def test_module_level_register_and_unregister_use_the_global_manager() -> None:
    for manager in fresh_plugin_manager():
        plugin = _adapter_plugin(AdapterSpec("inproc", FakeConnection, "inproc_connection"))
        assert plugins.register(plugin, name="inproc") == "inproc"
        assert manager.get_plugin("inproc") is plugin
        assert plugins.resolve_adapter("inproc_connection") is FakeConnection
        plugins.unregister(name="inproc")
        assert "inproc" not in plugins.adapters()


def test_use_plugin_manager_restores_the_previous_one() -> None:
    before = plugins.get_plugin_manager()
    replacement = new_plugin_manager()
    with plugins.use_plugin_manager(replacement) as active:
        assert active is replacement
        assert plugins.get_plugin_manager() is replacement
    assert plugins.get_plugin_manager() is before


def test_call_each_isolates_errors_and_drops_none_results(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Good:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            return []

    class Silent:
        @hookimpl
        def pika_register_adapters(self) -> None:
            return None

    class Bad:
        @hookimpl
        def pika_register_adapters(self) -> list[AdapterSpec]:
            raise OSError("nope")

    pm.register(Good(), name="good")
    pm.register(Silent(), name="silent")
    pm.register(Bad(), name="bad")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        results = pm.call_each("pika_register_adapters")
    assert [name for name, _ in results] == ["good", plugins.BUILTIN_PLUGIN_NAME]
    assert "'bad'" in caplog.records[0].getMessage()
