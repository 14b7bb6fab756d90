"""Run in a fresh environment: 100 messages through the broker on the sample adapter.

Usage: python round_trip.py AMQP_URL. The connection class comes from pika-core's plugin manager
(the entry point of the installed sample distribution). It declares an exclusive queue,
publishes 100 messages with publisher confirms, consumes them with acks (starting the consumer
from another thread through add_callback_threadsafe), checks on a second channel that no
message is left in the queue, and closes. Prints one JSON object for the test to assert on.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pika_core
import pika_core.plugins

COUNT = 100


def main(url: str) -> None:
    connection_class = pika_core.plugins.resolve_adapter("sample_loop_connection")
    report: dict[str, Any] = {"connection_class": connection_class.__qualname__}
    unconfirmed: set[int] = set()
    bodies: list[str] = []
    state: dict[str, Any] = {}

    def finish(why: str) -> None:
        report.setdefault("stopped_by", why)
        connection.ioloop.stop()

    def on_open(connection: Any) -> None:
        report["ioloop"] = (
            f"{type(connection.ioloop).__module__}.{type(connection.ioloop).__name__}"
        )
        state["loop_thread"] = threading.get_ident()
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel: Any) -> None:
        state["channel"] = channel
        channel.confirm_delivery(on_confirm, callback=lambda _frame: declare(channel))

    def declare(channel: Any) -> None:
        channel.queue_declare("", exclusive=True, callback=on_declared)

    def on_declared(frame: Any) -> None:
        channel = state["channel"]
        queue = state["queue"] = frame.method.queue
        for number in range(COUNT):
            channel.basic_publish("", queue, f"message {number}".encode())
            unconfirmed.add(channel.last_publish_sequence_number)
        report["sequence_numbers"] = sorted(unconfirmed) == list(range(1, COUNT + 1))

    def on_confirm(frame: Any) -> None:
        method = frame.method
        settled = {tag for tag in unconfirmed if tag <= method.delivery_tag}
        if not method.multiple:
            settled &= {method.delivery_tag}
        unconfirmed.difference_update(settled)
        key = "acked" if method.NAME == "Basic.Ack" else "nacked"
        report[key] = report.get(key, 0) + len(settled)
        if not unconfirmed and report.get("acked", 0) + report.get("nacked", 0) == COUNT:
            # Hand the next step to the loop from another thread, as an application would.
            threading.Thread(
                target=connection.ioloop.add_callback_threadsafe, args=(start_consuming,)
            ).start()

    def start_consuming() -> None:
        report["threadsafe_on_loop_thread"] = threading.get_ident() == state["loop_thread"]
        state["channel"].basic_consume(state["queue"], on_message)

    def on_message(channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        bodies.append(body.decode())
        channel.basic_ack(method.delivery_tag)
        if len(bodies) == COUNT:
            channel.close()  # unacked messages would go back to the queue; there must be none
            connection.channel(on_open_callback=check_queue_empty)

    def check_queue_empty(channel: Any) -> None:
        channel.queue_declare(state["queue"], passive=True, callback=on_checked)

    def on_checked(frame: Any) -> None:
        report["left_in_queue"] = frame.method.message_count
        connection.close()

    def on_open_error(_connection: Any, error: BaseException) -> None:
        report["open_error"] = repr(error)
        finish("open error")

    def on_close(_connection: Any, reason: BaseException) -> None:
        report["close_reason"] = type(reason).__name__
        finish("closed")

    connection = connection_class(
        pika_core.URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_close,
    )
    guard = connection.ioloop.call_later(60, lambda: finish("timeout after 60 s"))
    connection.ioloop.run()
    guard.cancel()
    connection.ioloop.close()
    report["bodies"] = bodies
    report["is_closed"] = connection.is_closed
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
