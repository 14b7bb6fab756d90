"""Client instructions per consumed message, counted by valgrind: a load-independent measure.

Run from the repository root, with RabbitMQ at 127.0.0.1:5672 and valgrind installed
(``apt-get install valgrind``)::

    python -m bench.instructions [--small 5000] [--large 25000] [--adapter blocking]

It preloads a queue with ``--small`` 64-byte messages, consumes them under
``valgrind --tool=cachegrind`` (prefetch 1,000, ``basic_ack(multiple=True)`` every 100, as the
client benchmark's consume scenario does), does the same with ``--large`` messages, and prints
the difference in instructions divided by the difference in messages: start-up, connection and
teardown cancel out. Instructions are not time, but unlike wall-clock rates on a shared machine
they only move when the code does, which makes them the measure to steer the per-message path
by (docs/benchmarks.md, "Profile findings: the consume path").
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time

QUEUE = "bench-instructions"

CONSUMER = """
import sys
import pika_core as pika

count, queue, adapter = int(sys.argv[1]), sys.argv[2], sys.argv[3]
received = 0


def on_message(channel, method, properties, body):
    global received
    received += 1
    if received % 100 == 0 or received == count:
        channel.basic_ack(method.delivery_tag, multiple=True)
        if received == count:
            if adapter == "blocking":
                channel.stop_consuming()
            else:
                channel.connection.close()


if adapter == "blocking":
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1000)
    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    connection.close()
else:
    def on_channel(channel):
        channel.basic_qos(prefetch_count=1000)
        channel.basic_consume(queue, on_message)

    def on_open(connection):
        connection.channel(on_open_callback=on_channel)

    def on_close(connection, reason):
        connection.ioloop.stop()

    connection = pika.SelectConnection(
        pika.ConnectionParameters("127.0.0.1"),
        on_open_callback=on_open,
        on_close_callback=on_close,
    )
    connection.ioloop.start()
if received != count:
    raise SystemExit(f"consumed {received} of {count}")
"""


def preload(count: int) -> None:
    """Fill the queue with ``count`` 64-byte messages and wait until the broker holds them."""
    import pika_core as pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.queue_declare(QUEUE)
    channel.queue_purge(QUEUE)
    body = bytes(64)
    for _ in range(count):
        channel.basic_publish("", QUEUE, body)
    while channel.queue_declare(QUEUE, passive=True).method.message_count < count:
        time.sleep(0.05)
    connection.close()


def instructions(count: int, adapter: str) -> int:
    """Instructions valgrind counts for consuming ``count`` preloaded messages."""
    preload(count)
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-c",
            CONSUMER,
            str(count),
            QUEUE,
            adapter,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the consumer failed under valgrind:\n{result.stderr[-2000:]}")
    match = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=5000, help="messages of the first run")
    parser.add_argument("--large", type=int, default=25000, help="messages of the second run")
    parser.add_argument("--adapter", choices=("blocking", "select"), default="blocking")
    args = parser.parse_args()
    if args.large <= args.small:
        parser.error("--large must be greater than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    small = instructions(args.small, args.adapter)
    large = instructions(args.large, args.adapter)
    per_message = (large - small) / (args.large - args.small)
    print(f"{args.adapter}: {per_message:,.0f} client instructions per consumed message")


if __name__ == "__main__":
    main()
