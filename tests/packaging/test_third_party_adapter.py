"""A third-party adapter plugs into pika-core exactly as the bundled plugins do, with no change to
the core: built as its own wheel, installed beside pika-core's wheel in a fresh environment, it
is listed by ``python -m pika_core plugins``, found by the plugin manager, and carries messages
through the broker.

The distribution is tests/packaging/sample_adapter/ (pika-core-sample-loop): an I/O loop of its
own on ``sched`` + ``selectors``, an ``AbstractIOServices`` over it, a ``BaseConnection``
subclass, and the ``pika_register_adapters`` hook behind a ``pika_core`` entry point. The
programs in sample_adapter/checks/ run inside the fresh environment and print JSON.

`nox -s packaging` passes pika-core's wheel in PIKA_CORE_WHEELHOUSE; run on its own, this module
builds it. The sample's wheel is always built here.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import zipfile
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = pathlib.Path(__file__).resolve().parent / "sample_adapter"
CHECKS = SAMPLE / "checks"
CORE_DEPENDENCIES = {"pluggy"} | (
    {"importlib-metadata", "zipp"} if sys.version_info < (3, 10) else set()
)
# Settings of the developer's shell that would change what the fresh environment sees.
_SCRUBBED_ENV = ("PYTHONPATH", "PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", "PIKA_CORE_PLUGINS")


def _sample_project() -> dict[str, Any]:
    with (SAMPLE / "pyproject.toml").open("rb") as handle:
        project: dict[str, Any] = tomllib.load(handle)["project"]
    return project


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(args: list[str], cwd: pathlib.Path) -> str:
    """Run a command; on failure show its output, which says what went wrong."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
    result = subprocess.run(
        args, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(args)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """pika-core's wheel: nox's, or built here from the checkout."""
    given = os.environ.get("PIKA_CORE_WHEELHOUSE")
    if given:
        folder = pathlib.Path(given)
    else:
        folder = tmp_path_factory.mktemp("core-wheel")
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(folder), str(ROOT)], ROOT
        )
    wheels = sorted(folder.glob("pika_core-*.whl"))
    assert len(wheels) == 1, f"expected one pika-core wheel in {folder}, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def sample_wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The sample adapter's wheel, built the way nox builds the bundled plugins' wheels."""
    folder = tmp_path_factory.mktemp("sample-wheel")
    if all(importlib.util.find_spec(name) is not None for name in ("build", "hatchling")):
        command = ["-m", "build", "--wheel", "--no-isolation", "--outdir", str(folder)]
    else:  # outside nox: pip fetches hatchling into an isolated build environment
        command = ["-m", "pip", "wheel", "--no-deps", "-w", str(folder)]
    _run([sys.executable, *command, str(SAMPLE)], ROOT)
    wheels = sorted(folder.glob("*.whl"))
    assert [wheel.name for wheel in wheels] == [
        f"pika_core_sample_loop-{_sample_project()['version']}-py3-none-any.whl"
    ]
    return wheels[0]


class SampleEnv:
    """A fresh venv (without pip; the running pip installs into it) holding the two wheels."""

    def __init__(self, folder: pathlib.Path, wheels: list[pathlib.Path]) -> None:
        _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], ROOT)
        self.folder = folder
        self.python = folder / ("Scripts" if os.name == "nt" else "bin") / "python"
        pip = [sys.executable, "-m", "pip", "--python", str(self.python), "install", "--quiet"]
        _run([*pip, *map(str, wheels)], ROOT)

    def run(self, *args: str) -> str:
        """Run the venv's python outside the checkout, so that nothing comes from the sources."""
        return _run([str(self.python), *args], self.folder)

    def run_json(self, *args: str) -> Any:
        return json.loads(self.run(*args))


@pytest.fixture(scope="module")
def sample_env(
    tmp_path_factory: pytest.TempPathFactory, core_wheel: pathlib.Path, sample_wheel: pathlib.Path
) -> SampleEnv:
    return SampleEnv(tmp_path_factory.mktemp("sample-env") / "venv", [core_wheel, sample_wheel])


def test_sample_wheel_is_a_typed_package_with_a_pika_core_entry_point(
    sample_wheel: pathlib.Path,
) -> None:
    project = _sample_project()
    dist_info = f"pika_core_sample_loop-{project['version']}.dist-info"
    with zipfile.ZipFile(sample_wheel) as wheel:
        package = sorted(name for name in wheel.namelist() if not name.startswith(dist_info))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(f"{dist_info}/entry_points.txt").decode())
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert package == [
        "pika_sample_loop/__init__.py",
        "pika_sample_loop/connection.py",
        "pika_sample_loop/loop.py",
        "pika_sample_loop/py.typed",
    ]
    assert dict(entry_points["pika_core"]) == {"sample-loop": "pika_sample_loop"}
    assert "Requires-Dist: pika-core>=0.1" in metadata.splitlines()


def test_plugins_command_lists_the_sample_with_its_own_version(sample_env: SampleEnv) -> None:
    version = _sample_project()["version"]
    listed = {
        plugin["name"]: plugin
        for plugin in sample_env.run_json("-m", "pika_core", "plugins", "--json")
    }
    assert set(listed) == {"builtin-adapters", "sample-loop"}
    assert listed["sample-loop"] == {
        "name": "sample-loop",
        "version": version,
        "distribution": "pika-core-sample-loop",
        "hooks": ["pika_register_adapters"],
        "adapters": [
            {
                "name": "sample-loop",
                "pika_module": "pika_core.adapters.sample_loop_connection",
                "connection_class": "SampleLoopConnection",
            }
        ],
    }
    text = sample_env.run("-m", "pika_core", "plugins")
    assert f"\nsample-loop {version} (distribution pika-core-sample-loop)\n" in text
    assert (
        "  adapters: sample-loop -> pika_core.adapters.sample_loop_connection.SampleLoopConnection"
        in text.splitlines()
    )


def test_plugin_manager_discovers_the_adapter_and_loads_it_only_when_used(
    sample_env: SampleEnv,
) -> None:
    found = sample_env.run_json(str(CHECKS / "discovery.py"))
    assert {_canonical(name) for name in found["distributions"]} == {
        "pika-core",
        "pika-core-sample-loop",
    } | CORE_DEPENDENCIES
    core_file = str(pathlib.Path(found["core_file"]).resolve())
    assert core_file.startswith(str(sample_env.folder.resolve())), (
        "pika_core must come from the wheel"
    )
    assert found["adapters"] == ["asyncio", "blocking", "sample-loop", "select"]
    assert found["provider"] == "sample-loop"
    assert found["pika_module"] == "sample_loop_connection"
    assert found["connection_reference"] == "pika_sample_loop.connection:SampleLoopConnection"
    assert found["imported_before_use"] == []
    assert found["resolved"] == "pika_sample_loop.connection.SampleLoopConnection"
    assert found["is_base_connection"] is True
    assert found["exports"] == {
        "SampleLoopConnection": "pika_sample_loop.connection.SampleLoopConnection",
        "SchedLoop": "pika_sample_loop.loop.SchedLoop",
    }
    assert found["imported_after_use"] is True


def test_sample_io_services_keep_the_contract(sample_env: SampleEnv) -> None:
    report = sample_env.run_json(str(CHECKS / "loop_basics.py"))
    assert report == {
        "is_io_services": True,
        "fired": ["first", "second", "third", "late"],
        "threadsafe_on_loop_thread": True,
        "getaddrinfo_on_loop_thread": True,
        "getaddrinfo_ok": True,
        "closed_rejects_callbacks": True,
    }


@pytest.mark.broker
def test_publish_and_consume_through_the_broker_on_the_sample_adapter(
    sample_env: SampleEnv, amqp_url: str
) -> None:
    report = sample_env.run_json(str(CHECKS / "round_trip.py"), amqp_url)
    assert "open_error" not in report
    assert report["stopped_by"] == "closed"
    assert report["close_reason"] == "ConnectionClosedByClient"
    assert report["is_closed"] is True
    assert report["connection_class"] == "SampleLoopConnection"
    assert report["ioloop"] == "pika_sample_loop.loop.SchedLoop"
    assert report["sequence_numbers"] is True
    assert report["acked"] == 100
    assert "nacked" not in report
    assert report["threadsafe_on_loop_thread"] is True
    assert report["bodies"] == [f"message {number}" for number in range(100)]
    assert report["left_in_queue"] == 0
