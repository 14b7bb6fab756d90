"""The examples in examples/ run against the broker; the recovery ones survive a killed connection.

Each recovery example runs in a subprocess with its own queue and connection name. The test
publishes, closes the example's connection with ``rabbitmqctl close_connection`` (the broker then
sends connection.close 320 CONNECTION_FORCED), and checks that the example connected again and
processed the messages published after the kill.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.parameters import URLParameters

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WAIT = 30.0  # a generous guard; each step normally takes well under a second

pytestmark = pytest.mark.broker


class Program:
    """A running example whose output lines are collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> None:
        """Wait until ``predicate(lines)`` holds; fail with the output so far if it never does."""
        deadline = time.monotonic() + WAIT
        while not predicate(self.lines):
            if self.process.poll() is not None and self._new.empty():
                self._reader.join(5)
                if predicate(self.lines):
                    return
                pytest.fail(
                    f"the example exited ({self.process.returncode}) before {what}:\n"
                    f"{self.output()}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}; output:\n{self.output()}")
            try:
                self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass

    def interrupt(self) -> int:
        """Ctrl-C the example; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the example ignored SIGINT; output:\n{self.output()}")
        self._reader.join(5)
        return status


def _rabbitmqctl(*args: str) -> str:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        pytest.fail("rabbitmqctl is needed to kill a connection; install rabbitmq-server")
    result = subprocess.run(
        [tool, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def connection_pids(connection_name: str) -> list[str]:
    """The broker's process ids of the open connections with this connection_name property."""
    marker = f'{{"connection_name","{connection_name}"}}'
    output = _rabbitmqctl("list_connections", "pid", "client_properties")
    return [line.split("\t", 1)[0] for line in output.splitlines() if marker in line]


def wait_for_connection(connection_name: str, not_pid: str | None = None) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        pids = [pid for pid in connection_pids(connection_name) if pid != not_pid]
        if pids:
            return pids[0]
        if time.monotonic() > deadline:
            pytest.fail(f"no connection named {connection_name!r} reached the broker")
        time.sleep(0.2)


@pytest.fixture
def names(amqp_url: str) -> Iterator[tuple[str, str]]:
    """A queue name and a connection name of the test's own; the queue is deleted afterwards."""
    token = uuid.uuid4().hex[:12]
    queue_name = f"pika-core-test.recover.{token}"
    yield queue_name, f"pika-core-test recover {token}"
    with BlockingConnection(URLParameters(amqp_url)) as connection:
        connection.channel().queue_delete(queue_name)


def _publish(amqp_url: str, queue_name: str, bodies: list[str]) -> None:
    connection = BlockingConnection(URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.queue_declare(queue_name, durable=True)
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish("", queue_name, body)
    finally:
        connection.close()


def _received(bodies: list[str]) -> Callable[[list[str]], bool]:
    def check(lines: list[str]) -> bool:
        seen = {line.split()[1] for line in lines if line.startswith("received ")}
        return all(body in seen for body in bodies)

    return check


@pytest.mark.parametrize(
    ("script", "reconnect_line"),
    [
        ("consume_recover.py", "the broker forced the connection closed"),
        ("consume_recover_retry.py", "retrying in"),
    ],
)
def test_recovery_example_survives_close_connection(
    script: str, reconnect_line: str, amqp_url: str, names: tuple[str, str]
) -> None:
    queue_name, connection_name = names
    env = dict(
        os.environ,
        AMQP_URL=amqp_url,
        QUEUE=queue_name,
        CONNECTION_NAME=connection_name,
        RECONNECT_DELAY="0.5",
        RETRY_DELAY="0.5",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    program = Program([sys.executable, str(EXAMPLES / script)], env)
    try:
        program.wait_for(lambda lines: any(l.startswith("connected") for l in lines), "connect")
        first_pid = wait_for_connection(connection_name)

        before = [f"before-{i}" for i in range(3)]
        _publish(amqp_url, queue_name, before)
        program.wait_for(_received(before), "the messages published before the kill")

        _rabbitmqctl("close_connection", first_pid, "pika-core test: killed on purpose")
        program.wait_for(
            lambda lines: sum(l.startswith("connected") for l in lines) >= 2, "a reconnect"
        )
        second_pid = wait_for_connection(connection_name, not_pid=first_pid)
        assert second_pid != first_pid

        after = [f"after-{i}" for i in range(5)]
        _publish(amqp_url, queue_name, after)
        program.wait_for(_received(after), "the messages published after the kill")
    finally:
        status = program.interrupt()

    output = program.output()
    assert reconnect_line in output, output
    assert "CONNECTION_FORCED" in output, output
    assert "stopped" in output, output
    assert status == 0, output
    assert "Traceback" not in output, output


def test_builtin_recovery_example_survives_close_connection(
    amqp_url: str, names: tuple[str, str]
) -> None:
    """consume_builtin_recovery.py: the same kill, recovered by the library, same process."""
    queue_name, connection_name = names
    env = _example_env(amqp_url, QUEUE=queue_name, CONNECTION_NAME=connection_name)
    program = Program([sys.executable, str(EXAMPLES / "consume_builtin_recovery.py")], env)
    try:
        program.wait_for(lambda lines: any(l.startswith("connected") for l in lines), "connect")
        first_pid = wait_for_connection(connection_name)
        before = [f"before-{i}" for i in range(3)]
        _publish(amqp_url, queue_name, before)
        program.wait_for(_received(before), "the messages published before the kill")
        _rabbitmqctl("close_connection", first_pid, "pika-core test: killed on purpose")
        program.wait_for(lambda lines: any(l.startswith("recovered") for l in lines), "recovery")
        second_pid = wait_for_connection(connection_name, not_pid=first_pid)
        assert second_pid != first_pid
        after = [f"after-{i}" for i in range(5)]
        _publish(amqp_url, queue_name, after)
        program.wait_for(_received(after), "the messages published after the kill")
    finally:
        status = program.interrupt()
    output = program.output()
    assert "connection lost: ConnectionClosedByBroker" in output, output
    assert "CONNECTION_FORCED" in output, output
    assert sum(line.startswith("connected") for line in output.splitlines()) == 1, output
    assert "stopped" in output, output
    assert status == 0, output
    assert "Traceback" not in output, output


def _example_env(amqp_url: str, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, AMQP_URL=amqp_url, PYTHONPATH=path, PYTHONUNBUFFERED="1", **extra)


def _run_example(script: str, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_blocking_publisher_then_consumer(amqp_url: str, names: tuple[str, str]) -> None:
    queue_name, _ = names
    env = _example_env(amqp_url, QUEUE=queue_name)
    published = _run_example("blocking_publisher.py", env, "1234")
    assert f"published 1234 messages to {queue_name}, all confirmed" in published
    consumed = _run_example("blocking_consumer.py", env, "0.5")
    assert f"consumed 1234 messages from {queue_name}" in consumed
    with BlockingConnection(URLParameters(amqp_url)) as connection:
        ok = connection.channel().queue_declare(queue_name, durable=True, passive=True)
        assert ok.method.message_count == 0  # every message was acknowledged


def test_rpc_over_direct_reply_to(amqp_url: str, names: tuple[str, str]) -> None:
    rpc_queue = names[0] + ".rpc"
    env = _example_env(amqp_url, RPC_QUEUE=rpc_queue)
    server = Program([sys.executable, str(EXAMPLES / "rpc_server.py")], env)
    try:
        server.wait_for(lambda lines: any("waiting for requests" in l for l in lines), "the server")
        output = _run_example("rpc_client.py", env, "0", "10", "90")
    finally:
        status = server.interrupt()
    assert "fib(0) = 0 " in output
    assert "fib(10) = 55 " in output
    assert "fib(90) = 2880067194370816120 " in output
    assert status == 0 and "stopped" in server.output(), server.output()
