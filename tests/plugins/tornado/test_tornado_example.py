"""examples/tornado_consumer.py consumes what is published to its queue, then closes cleanly."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from example_runner import run_consumer_example

pytestmark = pytest.mark.broker


def test_tornado_consumer_example(amqp_url: str) -> None:
    status, lines, queue = run_consumer_example("tornado", amqp_url, count=5)
    assert status == 0, lines
    assert lines[0] == f"consuming {queue}", lines
    assert [line for line in lines if line.startswith("received")] == [
        f"received message {i}" for i in range(5)
    ], lines
    assert "ConnectionClosedByClient" in lines[-1], lines
