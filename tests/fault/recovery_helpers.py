"""Shared pieces of the recovery fault tests: URLs, ledgers and reading a queue back."""

from __future__ import annotations

import time
from typing import Any, Callable

import pika_core as pika
from pika_core.adapters.select_connection import SelectConnection

from .support import BrokerNode

#: Fast backoff for tests: the recovery waits 0.05-1 s between attempts.
RECOVERY_QUERY = (
    "recovery=on&recovery_initial_delay=0.05&recovery_max_delay=1&recovery_jitter=0.2"
    "&recovery_blocking_wait=120"
)


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` appended."""
    return f"{url}{'&' if '?' in url else '?'}{query}"


def read_all(node: BrokerNode, queue: str, expected: int | None = None) -> list[bytes]:
    """Every message body of ``queue`` (consumed with auto-ack over a direct connection)."""
    bodies: list[bytes] = []
    connection = pika.BlockingConnection(pika.URLParameters(node.url()))
    try:
        channel = connection.channel()
        depth = channel.queue_declare(queue, passive=True).method.message_count
        if depth:
            for _method, _props, body in channel.consume(
                queue, auto_ack=True, inactivity_timeout=5
            ):
                if body is None:
                    break
                bodies.append(body)
                if len(bodies) >= depth:
                    break
            channel.cancel()
    finally:
        connection.close()
    return bodies


def run_select(
    url: str, on_open: Callable[[Any], Any], limit: float, **callbacks: Any
) -> SelectConnection:
    """Run a SelectConnection until it closes or ``limit`` seconds pass (then raise)."""
    state = {"timed_out": False}
    connection = SelectConnection(
        pika.URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=lambda c, e: c.ioloop.stop(),
        on_close_callback=lambda c, e: c.ioloop.stop(),
        **callbacks,
    )

    def watchdog() -> None:
        state["timed_out"] = True
        connection.ioloop.stop()

    connection.ioloop.call_later(limit, watchdog)
    connection.ioloop.start()
    if state["timed_out"]:
        raise AssertionError(f"the SelectConnection scenario did not finish in {limit} s")
    return connection


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
