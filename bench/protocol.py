"""Protocol-core benchmark: pika-core's sans-I/O ConnectionProtocol alone, without sockets.

Run from the repository root: ``python -m bench.protocol [--runs 7] [--messages 100000]``.
Each case opens a ConnectionProtocol through a scripted handshake and channel.open, then times
one per-message path, bytes to events or commands to bytes, and prints µs per message:

- deliver+ack: a pre-built stream of basic.deliver + header + 64-byte body (the codec
  benchmark's properties, with a headers table) fed in ``--chunk-size`` reads; every Delivery
  event is acknowledged with ``basic_ack`` and the acks are drained after each read, as a
  consumer's loop does.
- deliver: the same stream without acks (the inbound path alone).
- ack: ``basic_ack`` for each delivery tag, drained every 100 acks.
- publish: ``publish`` of a 64-byte body with typical properties (built per message), drained
  every 100 publishes.
- confirm: the broker's basic.ack for every publish of a confirm-mode channel, fed in
  ``--chunk-size`` reads, each turned into a Confirmation event.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any, Callable

from pika_core import spec
from pika_core.credentials import PlainCredentials
from pika_core.frame import Body, encode_header, encode_method
from pika_core.protocol import ConnectionProtocol, Delivery, events

BODY = bytes(range(64))
EXCHANGE = "orders"
ROUTING_KEY = "orders.created"
HEADERS: dict[str, Any] = {"trace-id": "4bf92f3577b34da6", "attempt": 1, "source": "checkout"}
CHANNEL = 1


def open_protocol(confirm: bool = False) -> ConnectionProtocol:
    """A ConnectionProtocol past the handshake with channel 1 open (in confirm mode if asked)."""
    proto = ConnectionProtocol(credentials=PlainCredentials("guest", "guest"), heartbeat=0)
    proto.connect()
    proto.data_to_send()
    start = spec.Connection.Start(
        version_major=0,
        version_minor=9,
        server_properties={"product": "RabbitMQ", "capabilities": {"publisher_confirms": True}},
        mechanisms=b"PLAIN",
        locales=b"en_US",
    )
    script = [
        encode_method(0, start),
        encode_method(0, spec.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=0)),
        encode_method(0, spec.Connection.OpenOk()),
    ]
    for data in script:
        proto.feed(data, 0.0)
    if not proto.is_open:
        raise SystemExit("the scripted handshake did not open the connection")
    proto.open_channel(CHANNEL)
    proto.feed(encode_method(CHANNEL, spec.Channel.OpenOk()), 0.0)
    if confirm:
        proto.rpc(CHANNEL, spec.Confirm.Select())
        proto.feed(encode_method(CHANNEL, spec.Confirm.SelectOk()), 0.0)
    proto.data_to_send()
    return proto


def delivery_stream(count: int) -> bytes:
    """``count`` deliveries (method, header, body frames) as the broker would send them."""
    parts = []
    for tag in range(1, count + 1):
        deliver = spec.Basic.Deliver(
            consumer_tag="ctag1.0123456789abcdef",
            delivery_tag=tag,
            redelivered=False,
            exchange=EXCHANGE,
            routing_key=ROUTING_KEY,
        )
        properties = spec.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            headers=HEADERS,
            message_id=f"msg-{tag}",
            timestamp=1_700_000_000,
        )
        parts.append(encode_method(CHANNEL, deliver))
        parts.append(encode_header(CHANNEL, len(BODY), properties))
        parts.append(Body(CHANNEL, BODY).marshal())
    return b"".join(parts)


def confirm_stream(count: int) -> bytes:
    """The broker's basic.ack for each of ``count`` publishes."""
    return b"".join(
        encode_method(CHANNEL, spec.Basic.Ack(delivery_tag=tag, multiple=False))
        for tag in range(1, count + 1)
    )


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


def time_deliver(chunks: list[bytes], count: int, ack: bool) -> float:
    """Feed the delivery stream; ack each Delivery if asked. Returns seconds."""
    proto = open_protocol()
    feed = proto.feed
    basic_ack = proto.basic_ack
    data_to_send = proto.data_to_send
    received = 0
    start = time.perf_counter()
    for chunk in chunks:
        for event in feed(chunk, 0.0):
            if event.__class__ is Delivery:
                received += 1
                if ack:
                    basic_ack(event.channel, event.method.delivery_tag)
        data_to_send()
    elapsed = time.perf_counter() - start
    if received != count:
        raise SystemExit(f"expected {count} deliveries, the protocol emitted {received}")
    return elapsed


def time_ack(count: int) -> float:
    proto = open_protocol()
    basic_ack = proto.basic_ack
    data_to_send = proto.data_to_send
    start = time.perf_counter()
    for tag in range(1, count + 1):
        basic_ack(CHANNEL, tag)
        if not tag % 100:
            data_to_send()
    data_to_send()
    return time.perf_counter() - start


def time_publish(count: int) -> float:
    proto = open_protocol()
    publish = proto.publish
    data_to_send = proto.data_to_send
    properties = spec.BasicProperties
    body = BODY
    start = time.perf_counter()
    for index in range(1, count + 1):
        props = properties(
            content_type="application/json",
            delivery_mode=2,
            headers=HEADERS,
            message_id="msg-1",
            timestamp=1_700_000_000,
        )
        publish(CHANNEL, EXCHANGE, ROUTING_KEY, body, props)
        if not index % 100:
            data_to_send()
    data_to_send()
    return time.perf_counter() - start


def time_confirm(chunks: list[bytes], count: int) -> float:
    proto = open_protocol(confirm=True)
    for _ in range(count):
        proto.publish(CHANNEL, EXCHANGE, ROUTING_KEY, BODY)
    proto.data_to_send()
    feed = proto.feed
    confirmed = 0
    start = time.perf_counter()
    for chunk in chunks:
        for event in feed(chunk, 0.0):
            if event.__class__ is events.Confirmation:
                confirmed += 1
    elapsed = time.perf_counter() - start
    if confirmed != count:
        raise SystemExit(f"expected {count} confirmations, the protocol emitted {confirmed}")
    return elapsed


def make_cases(count: int, chunk_size: int) -> dict[str, Callable[[], float]]:
    deliveries = chunked(delivery_stream(count), chunk_size)
    confirms = chunked(confirm_stream(count), chunk_size)
    return {
        "deliver+ack": lambda: time_deliver(deliveries, count, True),
        "deliver": lambda: time_deliver(deliveries, count, False),
        "ack": lambda: time_ack(count),
        "publish": lambda: time_publish(count),
        "confirm": lambda: time_confirm(confirms, count),
    }


def run_case(name: str, count: int, chunk_size: int = 65536) -> float:
    """Run one case once (for profilers); returns seconds."""
    return make_cases(count, chunk_size)[name]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.protocol", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument(
        "--messages", type=int, default=100_000, help="messages per run (default 100000)"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=65536, help="bytes per feed() (default 65536)"
    )
    parser.add_argument("--cases", help="comma-separated subset of the cases")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.messages < 1 or args.chunk_size < 1:
        parser.error("--runs, --messages and --chunk-size must be positive")
    cases = make_cases(args.messages, args.chunk_size)
    if args.cases:
        wanted = args.cases.split(",")
        unknown = sorted(set(wanted) - set(cases))
        if unknown:
            parser.error(f"unknown cases {unknown}; choose from {sorted(cases)}")
        cases = {name: cases[name] for name in wanted}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for bench in cases.values():  # warm up
        bench()
    for _ in range(args.runs):
        for name, bench in cases.items():
            gc.collect()
            samples[name].append(bench() / args.messages * 1e6)
    print(
        f"Python {sys.version.split()[0]}; {args.runs} runs of {args.messages} messages, "
        f"{args.chunk_size}-byte feeds"
    )
    print()
    print("| case | median µs/msg | min–max µs/msg | msg/s (median) |")
    print("|---|---:|---:|---:|")
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.2f} | {min(values):.2f}–{max(values):.2f} | {1e6 / median:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
