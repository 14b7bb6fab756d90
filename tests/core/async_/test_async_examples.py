"""The asynchronous examples under examples/, run as programs against the broker."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from typing import Any

import pytest

from pika_core.adapters.select_connection import IOLoop, SelectConnection
from pika_core.connection import URLParameters

pytestmark = pytest.mark.broker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _with_channel(url: str, action: Any) -> None:
    """Open a SelectConnection, run ``action(channel, done)``, close when done() is called."""
    loop = IOLoop()
    errors: list[BaseException] = []

    def on_channel(channel: Any) -> None:
        def done(_frame: Any = None) -> None:
            channel.connection.close()

        try:
            action(channel, done)
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
            channel.connection.close()

    def on_open_error(_conn: Any, exc: BaseException) -> None:
        errors.append(exc)
        loop.stop()

    SelectConnection(
        URLParameters(url),
        on_open_callback=lambda conn: conn.channel(on_open_callback=on_channel),
        on_open_error_callback=on_open_error,
        on_close_callback=lambda _c, _e: loop.stop(),
        custom_ioloop=loop,
    )
    watchdog = loop.call_later(20, loop.stop)
    loop.start()
    loop.remove_timeout(watchdog)
    loop.close()
    if errors:
        raise errors[0]


def _publish(url: str, queue_name: str, body: bytes) -> None:
    def action(channel: Any, done: Any) -> None:
        channel.confirm_delivery(lambda _frame: done())
        channel.basic_publish("", queue_name, body)

    _with_channel(url, action)


def _delete_queue(url: str, queue_name: str) -> None:
    _with_channel(url, lambda channel, done: channel.queue_delete(queue_name, callback=done))


class _Lines:
    """The stdout lines of a child process, readable with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def pump() -> None:
            for line in stdout:
                self._queue.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed within {timeout} s; output: {self.seen}")


def test_asynchronous_publisher_publishes_and_confirms(amqp_url: str) -> None:
    queue_name = f"pika-core-example-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [sys.executable, os.path.join(EXAMPLES, "asynchronous_publisher.py")],
            env=_env(AMQP_URL=amqp_url, PUBLISH_COUNT="5", PUBLISH_INTERVAL="0.05",
                     PUBLISH_QUEUE=queue_name),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "published=5 acked=5 nacked=0" in result.stdout, result.stderr

        counted: list[int] = []

        def count(channel: Any, done: Any) -> None:
            def declared(frame: Any) -> None:
                counted.append(frame.method.message_count)
                done()

            channel.queue_declare(queue_name, passive=True, callback=declared)

        _with_channel(amqp_url, count)
        assert counted == [5]
    finally:
        _delete_queue(amqp_url, queue_name)


def test_asynchronous_consumer_reconnects_after_close_connection(amqp_url: str) -> None:
    queue_name = f"pika-core-example-{uuid.uuid4().hex[:8]}"
    name = f"example-consumer-{uuid.uuid4().hex[:8]}"
    props = urllib.parse.quote(repr({"connection_name": name}))
    separator = "&" if "?" in amqp_url else "?"
    url = f"{amqp_url}{separator}client_properties={props}"
    process = subprocess.Popen(
        [sys.executable, os.path.join(EXAMPLES, "asynchronous_consumer_reconnect.py")],
        env=_env(AMQP_URL=url, MESSAGE_LIMIT="2", CONSUME_QUEUE=queue_name),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = _Lines(process)
    try:
        lines.wait_for("Consuming")
        _publish(amqp_url, queue_name, b"first")
        lines.wait_for("Received message 1: first")
        _close_connection_named(name)
        lines.wait_for("Connection closed, reconnect necessary")
        lines.wait_for("Connection opened")
        lines.wait_for("Consuming")
        _publish(amqp_url, queue_name, b"second")
        lines.wait_for("Received message 2: second")
        assert process.wait(timeout=30) == 0
        closed = [line for line in lines.seen if "reconnect necessary" in line]
        assert len(closed) == 1 and "ConnectionClosedByBroker" in closed[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _delete_queue(amqp_url, queue_name)


def _close_connection_named(name: str) -> None:
    for _ in range(40):
        listing = subprocess.run(
            ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
        for line in listing.splitlines():
            if name in line:
                subprocess.run(
                    ["rabbitmqctl", "close_connection", line.split("\t", 1)[0], "test closes it"],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                return
        time.sleep(0.25)
    raise AssertionError(f"no broker connection named {name!r}")


def test_custom_transport_example_round_trips_a_message(amqp_url: str) -> None:
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "custom_transport_connection.py")],
        env=_env(AMQP_URL=amqp_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "got: over a custom transport",
        "closed: ConnectionClosedByClient: (200) 'Normal shutdown'",
    ]
