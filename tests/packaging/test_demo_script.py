"""The README's first command, scripts/demo.sh, run as a user would: venv, install, broker, demo."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.broker
def test_demo_script_installs_pika_core_and_moves_every_message(tmp_path: pathlib.Path) -> None:
    env = dict(os.environ, PIKA_CORE_DEMO_VENV=str(tmp_path / "venv"))
    result = subprocess.run(
        [str(ROOT / "scripts" / "demo.sh"), "--count", "500", "--body-size", "32"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "venv" / "bin" / "pika-core").exists()
    for step in ("published", "confirmed", "consumed"):
        assert re.search(rf"^\s+{step}\s+500 in ", result.stdout, re.MULTILINE), result.stdout
    assert "deleted" in result.stdout
