"""rabbitmqctl for the blocking tests (a module of its own: test modules must not import conftest)."""

from __future__ import annotations

import subprocess

import pytest


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run rabbitmqctl; fail the test with its output if it fails."""
    result = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout
