"""The built wheels install into fresh environments and pull in exactly what each extra promises.

`nox -s packaging` builds every wheel and passes their folder in PIKA_CORE_WHEELHOUSE; run on
its own, this module builds them itself. Our distributions come from that folder (pip's
--find-links), their third-party dependencies from the package index.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = ["tornado", "twisted", "gevent", "streamdal"]
FRAMEWORKS = {"tornado": "tornado", "twisted": "twisted", "gevent": "gevent", "streamdal": None}
CORE_DEPENDENCIES = {"pluggy"} | (
    {"importlib-metadata", "zipp"} if sys.version_info < (3, 10) else set()
)

# Run inside a fresh venv: what is installed, what is importable, what the pika_core group holds.
PROBE = r"""
import importlib, importlib.util, json, sys
if sys.version_info >= (3, 10):
    import importlib.metadata as md
else:
    import importlib_metadata as md
import pika_core
eps = md.entry_points(group="pika_core")
loaded = {ep.name: getattr(ep.load(), "__version__", None) for ep in eps}
print(json.dumps({
    "distributions": sorted({d.metadata["Name"] for d in md.distributions()}),
    "core_version": pika_core.__version__,
    "core_file": pika_core.__file__,
    "entry_points": {ep.name: ep.value for ep in eps},
    "entry_point_versions": loaded,
    "importable": {n: importlib.util.find_spec(n) is not None
                   for n in ("tornado", "twisted", "gevent")},
}))
"""


def _core_version() -> str:
    text = (ROOT / "pika_core" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match is not None
    return match.group(1)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="session")
def wheelhouse() -> Iterator[pathlib.Path]:
    """The folder holding the five wheels (built here unless nox already built them)."""
    given = os.environ.get("PIKA_CORE_WHEELHOUSE")
    if given:
        yield pathlib.Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="pika-core-wheels-") as folder:
        projects = [str(ROOT)] + [str(ROOT / "plugins" / f"pika_{name}") for name in PLUGINS]
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", folder, *projects],
            check=True,
        )
        yield pathlib.Path(folder)


def test_wheelhouse_holds_one_wheel_per_distribution(wheelhouse: pathlib.Path) -> None:
    version = _core_version()
    names = sorted(path.name for path in wheelhouse.glob("*.whl"))
    expected = sorted(
        f"{dist}-{version}-py3-none-any.whl"
        for dist in ["pika_core"] + [f"pika_{name}" for name in PLUGINS]
    )
    assert names == expected


class FreshVenv:
    """A venv without pip; the running pip installs into it through --python."""

    def __init__(self, folder: pathlib.Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
        self.folder = folder
        self.python = folder / "bin" / "python"

    def install(self, requirement: str, wheelhouse: pathlib.Path) -> None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(self.python),
                "install",
                "--quiet",
                "--find-links",
                str(wheelhouse),
                requirement,
            ],
            check=True,
        )

    def probe(self) -> dict:  # type: ignore[type-arg]
        # Run outside the checkout, so that `import pika_core` cannot find the source tree.
        result = subprocess.run(
            [str(self.python), "-c", PROBE],
            check=True,
            capture_output=True,
            text=True,
            cwd=str(self.folder),
        )
        data = json.loads(result.stdout)
        data["distributions"] = {_canonical(name) for name in data["distributions"]}
        return data  # type: ignore[no-any-return]


def test_core_alone_pulls_in_no_framework(tmp_path: pathlib.Path, wheelhouse: pathlib.Path) -> None:
    venv = FreshVenv(tmp_path / "venv")
    venv.install("pika-core", wheelhouse)
    found = venv.probe()
    assert found["distributions"] == {"pika-core"} | CORE_DEPENDENCIES
    assert found["core_version"] == _core_version()
    assert found["importable"] == {"tornado": False, "twisted": False, "gevent": False}
    assert found["entry_points"] == {}
    installed = pathlib.Path(found["core_file"]).parent
    assert str(installed).startswith(str(tmp_path)), "pika_core must come from the wheel"
    assert (installed / "py.typed").is_file()
    dist_infos = list(installed.parent.glob("pika_core-*.dist-info"))
    assert len(dist_infos) == 1
    license_file = dist_infos[0] / "licenses" / "LICENSE"
    assert license_file.read_bytes() == (ROOT / "LICENSE").read_bytes()


@pytest.mark.parametrize("plugin", PLUGINS)
def test_extra_pulls_in_exactly_its_plugin_and_framework(
    plugin: str, tmp_path: pathlib.Path, wheelhouse: pathlib.Path
) -> None:
    venv = FreshVenv(tmp_path / "venv")
    venv.install(f"pika-core[{plugin}]", wheelhouse)
    found = venv.probe()
    distributions = found["distributions"]

    ours = {name for name in distributions if name.startswith("pika-")}
    assert ours == {"pika-core", f"pika-{plugin}"}
    framework = FRAMEWORKS[plugin]
    expected_importable = {name: name == framework for name in ("tornado", "twisted", "gevent")}
    assert found["importable"] == expected_importable
    if framework is None:
        assert distributions == {"pika-core", f"pika-{plugin}"} | CORE_DEPENDENCIES
    elif framework == "tornado":
        assert distributions == {"pika-core", "pika-tornado", "tornado"} | CORE_DEPENDENCIES

    assert found["entry_points"] == {plugin: f"pika_{plugin}"}
    assert found["entry_point_versions"] == {plugin: _core_version()}
    site_packages = pathlib.Path(found["core_file"]).parent.parent
    package = site_packages / f"pika_{plugin}"
    source = ROOT / "plugins" / f"pika_{plugin}" / f"pika_{plugin}"
    assert (package / "__init__.py").read_bytes() == (source / "__init__.py").read_bytes()
    assert (package / "py.typed").is_file()
