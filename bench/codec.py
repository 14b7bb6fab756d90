"""Codec benchmark: pika-core against pika on the per-message encode and decode paths.

Run from the repository root: ``python -m bench.codec [--runs 7] [--iterations 20000]``.
pika must be importable in the benchmark's environment (``pip install pika``); pika-core never
imports it.

- publish-encode: one basic.publish of a 64-byte body with typical properties, from arguments to
  the bytes that go on the wire. pika: the frame.Method/Header/Body objects its connection's
  ``_send_message`` builds, each marshalled (pika hands the three frames to the transport
  separately, so they are not joined). pika-core: ``frame.encode_publish``. Both sides build
  the BasicProperties per message, as an application does.
- deliver-decode: a stream of basic.deliver + header + 64-byte body, read in chunks of
  ``--chunk-size`` bytes (4096 is pika's socket read size) into (method, properties, body).
  pika: ``frame.decode_frame`` on a buffer trimmed after each frame, as its ``Connection``
  does. pika-core: ``FrameReader.feed`` + ``decode_method``/``decode_header``.
- deliver-decode-presplit: the same messages, each frame handed over on its own, which removes
  pika's buffer trimming from the measure (pika's best case).
- deliver-decode-no-headers: as deliver-decode, with no headers table in the properties, which
  shows how much of the decode time is field-table decoding.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

from pika_core import frame as core_frame
from pika_core import spec as core_spec

BODY = bytes(range(64))
EXCHANGE = "orders"
ROUTING_KEY = "orders.created"
TIMESTAMP = 1_700_000_000
HEADERS: dict[str, Any] = {"trace-id": "4bf92f3577b34da6", "attempt": 1, "source": "checkout"}

Bench = Callable[[int], float]


def _import_pika() -> Any:
    try:
        import pika  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the environment
        sys.exit(
            "bench.codec compares against pika: install it in this environment (pip install pika)"
        )
    return pika


def _core_properties(index: int) -> Any:
    return core_spec.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        headers=HEADERS,
        message_id=f"msg-{index}",
        timestamp=TIMESTAMP,
    )


def _pika_properties(pika: Any, index: int) -> Any:
    return pika.spec.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        headers=HEADERS,
        message_id=f"msg-{index}",
        timestamp=TIMESTAMP,
    )


# ---------------------------------------------------------------------------------------------
# publish-encode


def core_encode(iterations: int) -> float:
    """Time ``iterations`` publishes encoded by pika-core; returns seconds."""
    encode_publish = core_frame.encode_publish
    properties = core_spec.BasicProperties
    body = BODY
    start = time.perf_counter()
    for _ in range(iterations):
        props = properties(
            content_type="application/json",
            delivery_mode=2,
            headers=HEADERS,
            message_id="msg-1",
            timestamp=TIMESTAMP,
        )
        encode_publish(1, EXCHANGE, ROUTING_KEY, body, props, False, 131072)
    return time.perf_counter() - start


def make_pika_encode(pika: Any) -> Bench:
    frame = pika.frame
    publish = pika.spec.Basic.Publish
    properties = pika.spec.BasicProperties

    def pika_encode(iterations: int) -> float:
        """Time ``iterations`` publishes marshalled the way pika's connection does."""
        body = BODY
        start = time.perf_counter()
        for _ in range(iterations):
            props = properties(
                content_type="application/json",
                delivery_mode=2,
                headers=HEADERS,
                message_id="msg-1",
                timestamp=TIMESTAMP,
            )
            method = publish(exchange=EXCHANGE, routing_key=ROUTING_KEY, mandatory=False)
            [
                frame.Method(1, method).marshal(),
                frame.Header(1, len(body), props).marshal(),
                frame.Body(1, body).marshal(),
            ]
        return time.perf_counter() - start

    return pika_encode


# ---------------------------------------------------------------------------------------------
# deliver-decode


def deliver_frames(count: int, headers: dict[str, Any] | None) -> list[bytes]:
    """Each frame of ``count`` deliveries (with ``headers`` in their properties), one by one."""
    frames = []
    for tag in range(1, count + 1):
        deliver = core_spec.Basic.Deliver(
            consumer_tag="ctag1.0123456789abcdef",
            delivery_tag=tag,
            redelivered=False,
            exchange=EXCHANGE,
            routing_key=ROUTING_KEY,
        )
        frames.append(core_frame.encode_method(1, deliver))
        properties = _core_properties(tag)
        properties.headers = headers
        frames.append(core_frame.encode_header(1, len(BODY), properties))
        frames.append(core_frame.Body(1, BODY).marshal())
    return frames


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


def core_decode(chunks: list[bytes]) -> tuple[float, list[tuple[Any, Any, bytes]]]:
    """Decode the chunks with pika-core; returns (seconds, messages)."""
    reader = core_frame.FrameReader()
    reader.frame_max = 131072
    feed = reader.feed
    decode_method = core_frame.decode_method
    decode_header = core_frame.decode_header
    messages: list[tuple[Any, Any, bytes]] = []
    append = messages.append
    method: Any = None
    properties: Any = None
    start = time.perf_counter()
    for chunk in chunks:
        for frame_type, _channel, payload in feed(chunk):
            if frame_type == 1:
                method = decode_method(payload)
            elif frame_type == 2:
                properties = decode_header(payload)[2]
            else:
                append((method, properties, payload))
    return time.perf_counter() - start, messages


def make_pika_decode(pika: Any) -> Callable[[list[bytes]], tuple[float, list[Any]]]:
    decode_frame = pika.frame.decode_frame
    method_frame = pika.frame.Method
    header_frame = pika.frame.Header

    def pika_decode(chunks: list[bytes]) -> tuple[float, list[tuple[Any, Any, bytes]]]:
        """Decode the chunks the way pika's Connection._on_data_available does."""
        messages: list[tuple[Any, Any, bytes]] = []
        append = messages.append
        method: Any = None
        properties: Any = None
        buffer = b""
        start = time.perf_counter()
        for chunk in chunks:
            buffer += chunk
            while buffer:
                consumed, value = decode_frame(buffer)
                if not value:
                    break
                buffer = buffer[consumed:]
                if isinstance(value, method_frame):
                    method = value.method
                elif isinstance(value, header_frame):
                    properties = value.properties
                else:
                    append((method, properties, value.fragment))
        return time.perf_counter() - start, messages

    return pika_decode


# ---------------------------------------------------------------------------------------------
# Running and reporting


def check_equivalence(pika: Any) -> None:
    """Refuse to report numbers if the two libraries do not produce the same results."""
    core_bytes = core_frame.encode_publish(
        1, EXCHANGE, ROUTING_KEY, BODY, _core_properties(1), False, 131072
    )
    props = _pika_properties(pika, 1)
    method = pika.spec.Basic.Publish(exchange=EXCHANGE, routing_key=ROUTING_KEY)
    pika_bytes = b"".join(
        [
            pika.frame.Method(1, method).marshal(),
            pika.frame.Header(1, len(BODY), props).marshal(),
            pika.frame.Body(1, BODY).marshal(),
        ]
    )
    if core_bytes != pika_bytes:
        raise SystemExit("publish encodings differ between pika-core and pika; fix that first")
    chunks = chunked(b"".join(deliver_frames(50, HEADERS)), 4096)
    _, core_messages = core_decode(chunks)
    _, pika_messages = make_pika_decode(pika)(chunks)
    core_view = [(m.delivery_tag, p.headers, p.message_id, b) for m, p, b in core_messages]
    pika_view = [(m.delivery_tag, p.headers, p.message_id, b) for m, p, b in pika_messages]
    if core_view != pika_view or len(core_view) != 50:
        raise SystemExit("decoded deliveries differ between pika-core and pika; fix that first")


def summarise(samples: list[float]) -> dict[str, float]:
    """Median, min and max of per-operation times in nanoseconds, and the median rate."""
    median = statistics.median(samples)
    return {
        "median_ns": median,
        "min_ns": min(samples),
        "max_ns": max(samples),
        "ops_per_s": 1e9 / median,
    }


def measure(
    impls: dict[str, Callable[[], float]], runs: int, operations: int
) -> dict[str, dict[str, float]]:
    """Time each implementation ``runs`` times, alternating them so that load hits both alike."""
    samples: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(runs):
        for impl, bench in impls.items():
            gc.collect()
            samples[impl].append(bench() / operations * 1e9)
    return {impl: summarise(values) for impl, values in samples.items()}


def run(runs: int, iterations: int, chunk_size: int) -> dict[str, Any]:
    pika = _import_pika()
    check_equivalence(pika)
    pika_encode = make_pika_encode(pika)
    pika_decode = make_pika_decode(pika)
    frames = deliver_frames(iterations, HEADERS)
    chunks = chunked(b"".join(frames), chunk_size)
    plain_chunks = chunked(b"".join(deliver_frames(iterations, None)), chunk_size)

    cases: dict[str, dict[str, Callable[[], float]]] = {
        "publish-encode": {
            "pika": lambda: pika_encode(iterations),
            "pika-core": lambda: core_encode(iterations),
        },
        "deliver-decode": {
            "pika": lambda: pika_decode(chunks)[0],
            "pika-core": lambda: core_decode(chunks)[0],
        },
        "deliver-decode-presplit": {
            "pika": lambda: pika_decode(frames)[0],
            "pika-core": lambda: core_decode(frames)[0],
        },
        "deliver-decode-no-headers": {
            "pika": lambda: pika_decode(plain_chunks)[0],
            "pika-core": lambda: core_decode(plain_chunks)[0],
        },
    }
    # warm up both sides once before measuring
    for impls in cases.values():
        for bench in impls.values():
            bench()
    results: dict[str, Any] = {}
    for name, impls in cases.items():
        results[name] = measure(impls, runs, iterations)
        results[name]["speedup"] = (
            results[name]["pika"]["median_ns"] / results[name]["pika-core"]["median_ns"]
        )
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "pika": pika.__version__,
        "runs": runs,
        "iterations": iterations,
        "chunk_size": chunk_size,
        "results": results,
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        (
            f"Python {report['python']} ({report['implementation']}, {report['machine']}, "
            f"{report['cpu_count']} CPUs), pika {report['pika']}; {report['runs']} runs of "
            f"{report['iterations']} messages, {report['chunk_size']}-byte reads"
        ),
        "",
        "| benchmark | library | median µs/msg | min–max µs/msg | msg/s (median) | pika-core/pika |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, result in report["results"].items():
        for impl in ("pika", "pika-core"):
            stats = result[impl]
            ratio = f"{result['speedup']:.2f}x" if impl == "pika-core" else ""
            lines.append(
                f"| {name} | {impl} | {stats['median_ns'] / 1000:.2f} | "
                f"{stats['min_ns'] / 1000:.2f}–{stats['max_ns'] / 1000:.2f} | "
                f"{stats['ops_per_s']:,.0f} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument(
        "--iterations", type=int, default=20000, help="messages per run (default 20000)"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=4096, help="bytes per read when decoding (default 4096)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.iterations < 1 or args.chunk_size < 1:
        parser.error("--runs, --iterations and --chunk-size must be positive")
    report = run(args.runs, args.iterations, args.chunk_size)
    print(render(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
