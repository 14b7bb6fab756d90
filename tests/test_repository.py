"""The monorepo's layout and lockstep versions: every plugin is a complete distribution.

Reads files only (pyproject.toml, READMEs, markers), so it runs in the core's environment
without any plugin installed.
"""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(path for path in (ROOT / "plugins").iterdir() if path.is_dir())
EXPECTED_PLUGINS = {"pika_tornado", "pika_twisted", "pika_gevent", "pika_streamdal"}
FRAMEWORK_REQUIREMENT = {
    "pika_tornado": "tornado>=6",
    "pika_twisted": "twisted>=22",
    "pika_gevent": "gevent>=22",
    "pika_streamdal": None,
}


def _core_version() -> str:
    """pika_core/_version.py's __version__, read without importing the package."""
    text = (ROOT / "pika_core" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, 'pika_core/_version.py must hold one line: __version__ = "X.Y.Z"'
    return match.group(1)


def _pyproject(directory: pathlib.Path) -> dict[str, Any]:
    with (directory / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _package_version(package_init: pathlib.Path) -> str:
    match = re.search(
        r'^__version__ = "([^"]+)"$', package_init.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert match, f'{package_init} must define __version__ = "X.Y.Z"'
    return match.group(1)


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower()


def test_the_four_plugins_are_there() -> None:
    assert {path.name for path in PLUGIN_DIRS} == EXPECTED_PLUGINS


def test_core_metadata_matches_the_version_file() -> None:
    project = _pyproject(ROOT)["project"]
    assert project["name"] == "pika-core"
    assert project["version"] == _core_version()


def test_core_runtime_dependencies_are_pluggy_only() -> None:
    dependencies = [_normalise(dep) for dep in _pyproject(ROOT)["project"]["dependencies"]]
    names = {re.split(r"[<>=!~;\[]", dep, maxsplit=1)[0] for dep in dependencies}
    assert names == {"pluggy", "importlib-metadata"}
    assert any(
        dep.startswith("importlib-metadata") and "python_version<" in dep for dep in dependencies
    )


def test_core_ships_license_and_type_marker() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in license_text
    assert "Copyright (c) 2026, the pika-core developers" in license_text
    assert (ROOT / "pika_core" / "py.typed").is_file()
    assert _pyproject(ROOT)["project"]["license-files"] == ["LICENSE"]


def test_root_extras_pin_each_plugin_at_the_core_version() -> None:
    extras = _pyproject(ROOT)["project"]["optional-dependencies"]
    version = _core_version()
    expected = {
        path.name.split("_", 1)[1]: [f"pika-{path.name.split('_', 1)[1]}=={version}"]
        for path in PLUGIN_DIRS
    }
    assert {name: [_normalise(r) for r in reqs] for name, reqs in extras.items()} == expected


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=[path.name for path in PLUGIN_DIRS])
class TestPluginDistribution:
    """Each plugins/<pika_name>/ is a distribution of its own, kept in lockstep with the core."""

    def test_has_its_files(self, plugin_dir: pathlib.Path) -> None:
        package = plugin_dir / plugin_dir.name
        missing: list[str] = [
            str(path.relative_to(ROOT))
            for path in (
                plugin_dir / "pyproject.toml",
                plugin_dir / "README.md",
                plugin_dir / "LICENSE",
                package / "__init__.py",
                package / "py.typed",
            )
            if not path.is_file()
        ]
        assert missing == []

    def test_license_is_the_core_license(self, plugin_dir: pathlib.Path) -> None:
        assert (plugin_dir / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()

    def test_name_and_version_are_in_lockstep(self, plugin_dir: pathlib.Path) -> None:
        project = _pyproject(plugin_dir)["project"]
        assert project["name"] == plugin_dir.name.replace("_", "-")
        assert project["version"] == _core_version()
        package_init = plugin_dir / plugin_dir.name / "__init__.py"
        assert _package_version(package_init) == _core_version()

    def test_pins_the_core_exactly(self, plugin_dir: pathlib.Path) -> None:
        dependencies = [
            _normalise(dep) for dep in _pyproject(plugin_dir)["project"]["dependencies"]
        ]
        assert f"pika-core=={_core_version()}" in dependencies
        core_pins = [dep for dep in dependencies if dep.startswith("pika-core")]
        assert core_pins == [f"pika-core=={_core_version()}"]

    def test_depends_on_its_framework(self, plugin_dir: pathlib.Path) -> None:
        dependencies = [
            _normalise(dep) for dep in _pyproject(plugin_dir)["project"]["dependencies"]
        ]
        framework = FRAMEWORK_REQUIREMENT[plugin_dir.name]
        others = [dep for dep in dependencies if not dep.startswith("pika-core")]
        assert others == ([framework] if framework else [])

    def test_registers_an_entry_point_in_group_pika_core(self, plugin_dir: pathlib.Path) -> None:
        entry_points = _pyproject(plugin_dir)["project"].get("entry-points", {})
        short_name = plugin_dir.name.split("_", 1)[1]
        assert entry_points.get("pika_core") == {short_name: plugin_dir.name}

    def test_wheel_ships_the_package(self, plugin_dir: pathlib.Path) -> None:
        wheel = _pyproject(plugin_dir)["tool"]["hatch"]["build"]["targets"]["wheel"]
        assert wheel["packages"] == [plugin_dir.name]

    def test_readme_says_how_to_install(self, plugin_dir: pathlib.Path) -> None:
        readme = (plugin_dir / "README.md").read_text(encoding="utf-8")
        short_name = plugin_dir.name.split("_", 1)[1]
        assert "## Installation" in readme
        assert f'pip install "pika-core[{short_name}]"' in readme


def test_readme_opens_with_the_demo_and_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```", 2)[1]
    commands = [line for line in first_block.splitlines() if line.startswith("./")]
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^\./scripts/test\.sh\b", ci, re.MULTILINE)
