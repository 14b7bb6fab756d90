"""The runner's own broker chores: declare, fill and delete the benchmark's queues, serve RPC.

They run outside the timed driver processes, on pika (a bench dependency) or, when it is built,
the C program, which fills a queue fastest. Queue names are unique per suite run and deleted
afterwards; the broker is never restarted or reconfigured.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench.drivers import rabbitmq_c
from bench.scenarios import Params

RESPONDER_READY_TIMEOUT_S = 30.0


class Broker:
    """A pika BlockingConnection kept for housekeeping between runs (heartbeats off)."""

    def __init__(self, host: str, port: int, use_c: bool) -> None:
        try:
            import pika  # type: ignore[import-untyped]
        except ImportError:
            raise SystemExit(
                "the benchmark runner needs pika for its housekeeping: run it with nox -s bench, "
                "or pip install -r bench/requirements.txt"
            ) from None
        self.pika = pika
        self.host = host
        self.port = port
        self.use_c = use_c
        self.created: list[str] = []
        self._connection: Any = None
        self._channel: Any = None

    def _ch(self) -> Any:
        if self._connection is None or not self._connection.is_open:
            parameters = self.pika.ConnectionParameters(host=self.host, port=self.port, heartbeat=0)
            self._connection = self.pika.BlockingConnection(parameters)
            self._channel = None
        if self._channel is None or not self._channel.is_open:
            self._channel = self._connection.channel()
        return self._channel

    def declare(self, queue: str) -> None:
        self._ch().queue_declare(queue)
        self.created.append(queue)

    def count(self, queue: str) -> int:
        return int(self._ch().queue_declare(queue, passive=True).method.message_count)

    def fill(self, queue: str, count: int, size: int) -> None:
        """Put ``count`` bodies of ``size`` bytes into ``queue`` and wait until it holds them."""
        if self.use_c:
            params = Params(self.host, self.port, queue, count, size)
            done = subprocess.run(
                rabbitmq_c.command("publish", params), check=False, capture_output=True, text=True
            )
            if done.returncode == 0:
                return
            sys.stderr.write(f"filling with the C program failed, using pika: {done.stderr}\n")
        channel = self._ch()
        body = bytes(size)
        have = self.count(queue)
        for _ in range(count - have):
            channel.basic_publish("", queue, body)
        while self.count(queue) < count:
            time.sleep(0.005)

    def delete(self, queue: str) -> None:
        try:
            self._ch().queue_delete(queue)
        except Exception as exc:  # noqa: BLE001 - a dead channel reopens on the next call
            sys.stderr.write(f"could not delete queue {queue}: {exc}\n")
            self._channel = None
            return
        if queue in self.created:
            self.created.remove(queue)

    def close(self) -> None:
        for queue in list(self.created):
            self.delete(queue)
        if self._connection is not None and self._connection.is_open:
            self._connection.close()


class Responder:
    """The RPC server that answers every client's requests: the C program, else pika."""

    def __init__(self, host: str, port: int, queue: str, use_c: bool) -> None:
        params = Params(host, port, "", 1, 0, rpc_queue=queue)
        if use_c:
            command = rabbitmq_c.command("rpc-server", params)
            self.kind = "C (rabbitmq-c)"
        else:
            command = [sys.executable, "-m", "bench.responder", host, str(port), queue]
            self.kind = "pika BlockingConnection"
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + RESPONDER_READY_TIMEOUT_S
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            self.stop()
            raise SystemExit(f"the RPC responder ({self.kind}) did not start: {line!r}")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
