"""tests/conftest.py's broker rule: skip on a developer's machine, fail in CI, tag for .ci/run.

Each case runs a small test suite with a copy of the real conftest in a separate pytest process,
pointed at a port where nothing listens.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

CONFTEST = pathlib.Path(__file__).resolve().parents[1] / "conftest.py"

SAMPLE = """
import pytest

@pytest.mark.broker
def test_needs_broker(amqp_url):
    assert amqp_url

def test_plain():
    assert True
"""


def _closed_port() -> int:
    """A local port with no listener (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(
    tmp_path: pathlib.Path, url: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "test_sample.py").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    broker: needs the broker\n", encoding="utf-8"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "PIKA_CORE_REQUIRE_BROKER", "PIKA_CORE_TEST_URL")
    }
    # Third-party pytest plugins are not needed here and only slow the start.
    environment.update(env, PIKA_CORE_TEST_URL=url, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", f"--junitxml={report}"],
        check=False,
        cwd=str(tmp_path),
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, ET.parse(report).getroot()


def _case(root: ET.Element, name: str) -> ET.Element:
    for case in root.iter("testcase"):
        if case.get("name") == name:
            return case
    raise AssertionError(f"{name} not in the report")


def test_unreachable_broker_skips_with_advice_on_a_developer_machine(
    tmp_path: pathlib.Path,
) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F"
    result, root = _run(tmp_path, url)
    assert result.returncode == 0, result.stdout + result.stderr
    case = _case(root, "test_needs_broker")
    assert case.find("skipped") is not None
    assert "ensure_broker.sh" in result.stdout
    assert _case(root, "test_plain").find("skipped") is None


@pytest.mark.parametrize("variable", ["CI", "PIKA_CORE_REQUIRE_BROKER"])
def test_unreachable_broker_fails_when_required(tmp_path: pathlib.Path, variable: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F"
    result, root = _run(tmp_path, url, **{variable: "true"})
    assert result.returncode == 1, result.stdout + result.stderr
    case = _case(root, "test_needs_broker")
    assert case.find("error") is not None or case.find("failure") is not None
    assert case.find("skipped") is None


def test_broker_tests_carry_the_junit_property(tmp_path: pathlib.Path) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F"
    _, root = _run(tmp_path, url)
    tagged = {
        case.get("name")
        for case in root.iter("testcase")
        for prop in case.iter("property")
        if prop.get("name") == "broker" and prop.get("value") == "true"
    }
    assert tagged == {"test_needs_broker"}


def test_amqp_url_defaults_to_the_local_guest_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("broker_rule_conftest", CONFTEST)
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    monkeypatch.delenv("PIKA_CORE_TEST_URL", raising=False)
    assert conftest._amqp_url() == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert conftest._broker_address("amqps://u:p@example.invalid/vh") == ("example.invalid", 5671)
    monkeypatch.setenv("PIKA_CORE_TEST_URL", "amqp://u:p@broker.invalid:5673/x")
    assert conftest._amqp_url() == "amqp://u:p@broker.invalid:5673/x"
