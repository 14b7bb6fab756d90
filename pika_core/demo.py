"""``python -m pika_core demo``: a round trip through RabbitMQ that shows what the client does.

It declares a queue, publishes ``--count`` messages with pipelined publisher confirms, consumes
them back on a second channel of the same connection (prefetch, acks with ``multiple=True``),
prints a progress line while it runs and a summary at the end, then deletes its queue. Each body
starts with the publish time, so the consumer measures the round trip of every message.
"""

from __future__ import annotations

import argparse
import array
import struct
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any, Sequence, TextIO

from pika_core import exceptions

if TYPE_CHECKING:
    from pika_core.blocking.channel import BlockingChannel
    from pika_core.blocking.connection import BlockingConnection
    from pika_core.parameters import URLParameters

__all__ = ["DEFAULT_URL", "DemoStats", "add_subcommand", "main", "run_demo"]

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
CONNECTION_NAME = "pika-core demo"
#: The publish time (time.perf_counter, a big-endian double) that starts every body.
STAMP = struct.Struct("!d")
#: Publishes between two looks at the socket for deliveries and confirms.
PUBLISH_BATCH = 100
#: Exit status when the broker is unreachable, the run fails or messages go missing.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _body_size(text: str) -> int:
    value = int(text)
    if value < STAMP.size:
        raise argparse.ArgumentTypeError(
            f"must be at least {STAMP.size} bytes (the publish time is in the body), got {value}"
        )
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_subcommand(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register ``demo`` on the subparsers of ``python -m pika_core``; return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="publish messages with pipelined confirms, consume them back, print the speed",
        description=(
            "Declare a queue, publish COUNT messages with pipelined publisher confirms, consume "
            "them back, print progress (published, confirmed, consumed, messages/s each way, "
            "round-trip latency) and a summary, then delete the queue."
        ),
    )
    _add_options(parser)
    parser.set_defaults(handler=run_demo)
    return parser


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=DEFAULT_URL,
        help="the broker, as an AMQP URL (default: %(default)s)",
    )
    parser.add_argument(
        "--count",
        type=_positive_int,
        default=10_000,
        help="how many messages to send (default: %(default)s)",
    )
    parser.add_argument(
        "--body-size",
        type=_body_size,
        default=64,
        help="bytes per message body, at least 8 (default: %(default)s)",
    )
    parser.add_argument(
        "--queue",
        default="",
        help="queue to declare, use and delete (default: a new pika-core-demo-<random> queue)",
    )
    parser.add_argument(
        "--max-outstanding",
        type=_positive_int,
        default=1000,
        help="publishes awaiting their confirm before publishing waits (default: %(default)s)",
    )
    parser.add_argument(
        "--prefetch",
        type=_positive_int,
        default=1000,
        help="deliveries the broker sends ahead of the consumer's acks (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        help="seconds to wait for the last confirms and deliveries (default: %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=0.5,
        help="seconds between progress lines (default: %(default)s)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pika_core.demo``: the same command without the ``python -m pika_core`` parser."""
    parser = argparse.ArgumentParser(prog="pika-core demo", description=__doc__)
    _add_options(parser)
    return run_demo(parser.parse_args(argv))


class DemoStats:
    """Counters, clocks and latencies of one run; formats the progress line and the summary."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.published = 0
        self.consumed = 0
        self.outstanding = 0
        self.started = time.perf_counter()
        self.published_at: float | None = None
        self.confirmed_at: float | None = None
        self.consumed_at: float | None = None
        self.latencies = array.array("d")
        # The previous progress line: time, published, consumed, latencies seen.
        self._mark = (self.started, 0, 0, 0)

    def start(self, now: float) -> None:
        """Start the clocks: the first publish goes out now."""
        self.started = now
        self._mark = (now, 0, 0, 0)

    @property
    def confirmed(self) -> int:
        """Publishes the broker has settled."""
        return self.published - self.outstanding

    def progress_line(self, now: float) -> str:
        """Counts, the rates since the previous line and the mean round trip over that time."""
        then, published, consumed, seen = self._mark
        span = max(now - then, 1e-9)
        window = self.latencies[seen:]
        latency = f"{sum(window) / len(window) * 1000:7.2f} ms" if window else "      - ms"
        self._mark = (now, self.published, self.consumed, len(self.latencies))
        width = len(str(self.count))
        return (
            f"published {self.published:>{width}}  confirmed {self.confirmed:>{width}}  "
            f"consumed {self.consumed:>{width}}  |  "
            f"out {(self.published - published) / span:>9,.0f} msg/s  "
            f"in {(self.consumed - consumed) / span:>9,.0f} msg/s  |  round trip {latency}"
        )

    def summary(self, body_size: int, queue: str, where: str) -> list[str]:
        """The closing report, one line each."""
        lines = [f"{self.count} messages of {body_size} bytes through queue {queue} at {where}"]
        for label, done, at in (
            ("published", self.published, self.published_at),
            ("confirmed", self.confirmed, self.confirmed_at),
            ("consumed", self.consumed, self.consumed_at),
        ):
            seconds = (at or time.perf_counter()) - self.started
            rate = done / seconds if seconds > 0 else 0.0
            lines.append(f"  {label:<10} {done:>8} in {seconds:8.3f} s  {rate:>11,.0f} msg/s")
        if self.latencies:
            ordered = sorted(self.latencies)
            last = len(ordered) - 1

            def at_percent(percent: float) -> str:
                return f"{ordered[round(last * percent / 100)] * 1000:.2f}"

            lines.append(
                f"  {'round trip':<10} min {at_percent(0)} ms, median {at_percent(50)} ms, "
                f"p99 {at_percent(99)} ms, max {at_percent(100)} ms"
            )
        return lines


class _Progress:
    """Writes progress lines: rewritten in place on a terminal, one per interval otherwise."""

    def __init__(self, out: TextIO, interval: float) -> None:
        self.out = out
        self.interval = interval
        self.tty = out.isatty()
        self.next_at = time.perf_counter() + interval
        self.width = 0
        #: The counts on the last line written (published, confirmed, consumed).
        self.shown = (-1, -1, -1)

    def maybe(self, stats: DemoStats) -> None:
        now = time.perf_counter()
        if now >= self.next_at:
            self.next_at = now + self.interval
            self.write(stats, now)

    def write(self, stats: DemoStats, now: float) -> None:
        self.shown = (stats.published, stats.confirmed, stats.consumed)
        line = stats.progress_line(now)
        if self.tty:
            self.width = max(self.width, len(line))
            self.out.write("\r" + line.ljust(self.width))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def final(self, stats: DemoStats) -> None:
        """Write the closing counts unless the last line already showed them."""
        if self.shown != (stats.published, stats.confirmed, stats.consumed):
            self.write(stats, time.perf_counter())

    def end(self) -> None:
        if self.tty and self.width:
            self.out.write("\n")
            self.out.flush()


def _fail(message: str, status: int = EXIT_FAILED) -> int:
    sys.stderr.write(f"pika-core demo: {message}\n")
    return status


def _where(params: URLParameters) -> str:
    """The broker's address without the credentials."""
    return f"{params.host}:{params.port} vhost {params.virtual_host!r}"


def run_demo(args: argparse.Namespace) -> int:
    """The ``demo`` command: returns the exit status; errors become one line on stderr."""
    from pika_core.adapters.blocking_connection import BlockingConnection
    from pika_core.parameters import URLParameters

    try:
        params = URLParameters(args.url)
    except (ValueError, TypeError) as exc:
        return _fail(f"bad --url: {exc}", EXIT_USAGE)
    params.client_properties = {"connection_name": CONNECTION_NAME}
    where = _where(params)
    try:
        connection = BlockingConnection(params)
    except exceptions.AMQPConnectionError as exc:
        return _fail(
            f"cannot connect to the broker at {where}: {exc}\n"
            "Start RabbitMQ there (or pass --url amqp://USER:PASSWORD@HOST:PORT/VHOST)."
        )
    except OSError as exc:
        return _fail(f"cannot connect to the broker at {where}: {exc}")

    queue: str = args.queue or f"pika-core-demo-{uuid.uuid4().hex[:12]}"
    stats = DemoStats(args.count)
    progress = _Progress(sys.stdout, args.interval)
    declared = False
    try:
        publisher = connection.channel()
        ok = publisher.queue_declare(queue)
        if ok.method.message_count:
            _cleanup(connection, None)
            return _fail(
                f"queue {queue} already holds {ok.method.message_count} messages; "
                "choose another --queue (the demo deletes its queue when done)"
            )
        declared = True
        sys.stdout.write(
            f"pika-core demo: {args.count} messages of {args.body_size} bytes, queue {queue}, "
            f"{where}\n"
        )
        _round_trip(connection, publisher, queue, args, stats, progress)
    except KeyboardInterrupt:
        progress.end()
        _cleanup(connection, queue if declared else None)
        return _fail("interrupted", EXIT_INTERRUPTED)
    except exceptions.AMQPError as exc:
        progress.end()
        _cleanup(connection, queue if declared else None)
        return _fail(f"the run failed: {exc.__class__.__name__}: {exc}")
    progress.end()
    deleted = _cleanup(connection, queue)
    out = sys.stdout
    out.write("summary:\n")
    for line in stats.summary(args.body_size, queue, where):
        out.write(f"  {line}\n")
    out.write(f"  queue {queue} {'deleted' if deleted else 'NOT deleted: delete it by hand'}\n")
    if stats.consumed != args.count or stats.confirmed != args.count:
        return _fail(
            f"timed out after {args.timeout} s: {stats.confirmed} of {args.count} confirmed, "
            f"{stats.consumed} consumed"
        )
    return 0


def _round_trip(
    connection: BlockingConnection,
    publisher: BlockingChannel,
    queue: str,
    args: argparse.Namespace,
    stats: DemoStats,
    progress: _Progress,
) -> None:
    """Publish everything while consuming what arrives, then wait for the rest."""
    count: int = args.count
    ack_every = max(1, min(100, args.prefetch // 2))
    latencies = stats.latencies
    unpack = STAMP.unpack_from
    clock = time.perf_counter

    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=args.prefetch)

    def on_message(channel: BlockingChannel, method: Any, _properties: Any, body: bytes) -> None:
        latencies.append(clock() - unpack(body)[0])
        stats.consumed += 1
        if stats.consumed % ack_every == 0 or stats.consumed == count:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if stats.consumed == count:
            stats.consumed_at = clock()

    consumer.basic_consume(queue, on_message)
    publisher.confirm_delivery(pipelined=True, max_outstanding=args.max_outstanding)

    tail = b"\x00" * (args.body_size - STAMP.size)
    pack = STAMP.pack
    publish = publisher.basic_publish
    stats.start(clock())
    progress.next_at = stats.started + progress.interval
    for number in range(1, count + 1):
        publish("", queue, pack(clock()) + tail)
        if number % PUBLISH_BATCH == 0:
            stats.published = number
            stats.outstanding = publisher.outstanding_confirms
            connection.process_data_events(0)
            progress.maybe(stats)
    stats.published = count
    stats.published_at = clock()

    deadline = stats.published_at + args.timeout
    # Raises NackError listing the messages the broker refused, if it refused any.
    publisher.wait_for_confirms(timeout=args.timeout)
    stats.outstanding = publisher.outstanding_confirms
    if not stats.outstanding:
        stats.confirmed_at = clock()
    while stats.consumed < count and clock() < deadline:
        connection.process_data_events(min(progress.interval, max(0.0, deadline - clock())))
        progress.maybe(stats)
    progress.final(stats)


def _cleanup(connection: BlockingConnection, queue: str | None) -> bool:
    """Delete the demo's queue and close the connection; True when the queue is gone."""
    deleted = False
    try:
        if connection.is_open and queue is not None:
            with connection.channel() as channel:
                channel.queue_delete(queue)
            deleted = True
    except (exceptions.AMQPError, OSError):
        pass
    try:
        if connection.is_open:
            connection.close()
    except (exceptions.AMQPError, OSError):
        pass
    return deleted


if __name__ == "__main__":
    sys.exit(main())
