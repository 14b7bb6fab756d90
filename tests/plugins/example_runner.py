"""Run one of the plugin examples (examples/<name>_consumer.py) against the broker.

The example consumes from a queue of its own; this publishes the messages once it says it is
consuming, and collects what it printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_consumer_example(name: str, amqp_url: str, count: int = 5) -> tuple[int, list[str], str]:
    """(exit status, printed lines, queue) of examples/<name>_consumer.py for ``count`` messages."""
    from pika_core.adapters.blocking_connection import BlockingConnection
    from pika_core.parameters import URLParameters

    queue = f"pika-core-example-{name}-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / f"{name}_consumer.py"),
            queue,
            str(count),
            amqp_url,
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("consuming"):
                break
            assert time.monotonic() < deadline, lines
        connection = BlockingConnection(URLParameters(amqp_url))
        channel = connection.channel()
        for i in range(count):
            channel.basic_publish("", queue, f"message {i}".encode())
        connection.close()
        rest, _ = process.communicate(timeout=30)
        lines.extend(rest.splitlines())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        connection = BlockingConnection(URLParameters(amqp_url))
        connection.channel().queue_delete(queue)
        connection.close()
    return process.returncode, lines, queue
