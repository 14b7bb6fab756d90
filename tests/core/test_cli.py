"""``python -m pika_core``: --version, the plugins listing, and subcommands added by plugins."""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

import pika_core
from pika_core.__main__ import build_parser, main
from pika_core.plugins import AdapterSpec, PikaPluginManager, hookimpl, new_plugin_manager

ROOT = pathlib.Path(__file__).resolve().parents[2]
VERSION = pika_core.__version__


class FakeTornadoConnection:
    """Stands for the tornado plugin's connection class."""


class FakeTornadoPlugin:
    __version__ = "9.8.7"

    @hookimpl
    def pika_register_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("tornado", FakeTornadoConnection, "tornado_connection")]

    @hookimpl
    def pika_connection_opened(self, connection: Any) -> None:
        pass


class TailPlugin:
    """Adds a ``tail`` subcommand, as pika-streamdal will."""

    def __init__(self) -> None:
        self.tailed: list[str] = []

    @hookimpl
    def pika_add_cli_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        parser = subparsers.add_parser("tail", help="print messages as they pass")
        parser.add_argument("queue")
        parser.set_defaults(handler=self.run)

    def run(self, args: argparse.Namespace) -> int:
        self.tailed.append(args.queue)
        return 3


@pytest.fixture
def pm() -> PikaPluginManager:
    return new_plugin_manager()


def test_plugins_text_lists_name_version_hooks_and_adapters(
    pm: PikaPluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    pm.register(FakeTornadoPlugin(), name="tornado")
    assert main(["plugins"], manager=pm) == 0
    assert capsys.readouterr().out == (
        f"pika-core {VERSION}: 2 plugins\n"
        "\n"
        f"builtin-adapters {VERSION} (distribution pika-core)\n"
        "  hooks:    pika_register_adapters\n"
        "  adapters: asyncio -> pika_core.adapters.asyncio_connection.AsyncioConnection\n"
        "            blocking -> pika_core.adapters.blocking_connection.BlockingConnection\n"
        "            select -> pika_core.adapters.select_connection.SelectConnection\n"
        "\n"
        "tornado 9.8.7\n"
        "  hooks:    pika_connection_opened, pika_register_adapters\n"
        "  adapters: tornado -> pika_core.adapters.tornado_connection.FakeTornadoConnection\n"
    )


def test_plugins_text_for_a_plugin_without_version_or_adapters(
    pm: PikaPluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    class Bare:
        def pika_channel_opened(self, channel: Any) -> None:
            pass

    pm.register(Bare(), name="bare")
    main(["plugins"], manager=pm)
    out = capsys.readouterr().out
    assert out.endswith(
        "\nbare (version unknown)\n  hooks:    pika_channel_opened\n  adapters: (none)\n"
    )


def test_plugins_json(pm: PikaPluginManager, capsys: pytest.CaptureFixture[str]) -> None:
    pm.register(FakeTornadoPlugin(), name="tornado")
    assert main(["plugins", "--json"], manager=pm) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in listing] == ["builtin-adapters", "tornado"]
    assert listing[1] == {
        "name": "tornado",
        "version": "9.8.7",
        "distribution": None,
        "hooks": ["pika_connection_opened", "pika_register_adapters"],
        "adapters": [
            {
                "name": "tornado",
                "pika_module": "pika_core.adapters.tornado_connection",
                "connection_class": "FakeTornadoConnection",
            }
        ],
    }


def test_version(pm: PikaPluginManager, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"], manager=pm)
    assert info.value.code == 0
    assert capsys.readouterr().out == f"pika-core {VERSION}\n"


def test_no_subcommand_prints_help_and_fails(
    pm: PikaPluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([], manager=pm) == 2
    err = capsys.readouterr().err
    assert "usage: python -m pika_core" in err
    assert "plugins" in err


def test_a_plugin_adds_a_subcommand(pm: PikaPluginManager) -> None:
    tail = TailPlugin()
    pm.register(tail, name="streamdal")
    assert main(["tail", "orders"], manager=pm) == 3
    assert tail.tailed == ["orders"]
    assert "tail" in build_parser(pm).format_help()


def test_a_broken_cli_plugin_leaves_the_plugins_command_working(
    pm: PikaPluginManager, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenCli:
        @hookimpl
        def pika_add_cli_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
            raise RuntimeError("cannot add")

    pm.register(BrokenCli(), name="broken-cli")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        assert main(["plugins"], manager=pm) == 0
    assert "broken-cli" in capsys.readouterr().out
    assert any("'broken-cli'" in r.getMessage() for r in caplog.records)


def test_a_clashing_subcommand_is_reported_not_fatal(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Clash:
        @hookimpl
        def pika_add_cli_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
            subparsers.add_parser("plugins")

    pm.register(Clash(), name="clash")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        parser = build_parser(pm)
    # Python 3.11+ argparse refuses the clash (reported with the plugin's name); older versions
    # let it replace the parser, which build_parser undoes and reports.
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "'clash'" in m or "replaced the built-in subcommand 'plugins'" in m for m in messages
    )
    assert parser.parse_args(["plugins"]).json is False


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [sys.executable, "-m", "pika_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_python_dash_m_version() -> None:
    result = _run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"pika-core {VERSION}\n"


def test_python_dash_m_plugins() -> None:
    result = _run_module("plugins")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"pika-core {VERSION}: 1 plugin\n\nbuiltin-adapters {VERSION}")
    assert "select -> pika_core.adapters.select_connection.SelectConnection" in result.stdout
