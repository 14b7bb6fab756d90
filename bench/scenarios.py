"""The client benchmark's scenarios: what each measures, its message counts, and its metrics.

Every client driver implements the same scenarios with the same parameters (a ``Params``), and
reports raw numbers (elapsed seconds, latencies); the metrics are computed here, once, so that
no driver can compute them differently.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any, Callable, Dict, NamedTuple

MIB = 1 << 20

# What a driver reports: elapsed_s and count for most scenarios, latencies_us for rpc, and an
# optional note (for instance "stop-and-wait confirms") shown beside the result.
Raw = Dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Params:
    """Everything a driver needs for one run; passed to the driver process as JSON."""

    host: str
    port: int
    queue: str
    count: int
    size: int
    window: int = 1000
    prefetch: int = 1000
    ack_every: int = 100
    rpc_queue: str = ""
    # Request/reply and stop-and-wait loops stop issuing after this many seconds (a slow client
    # would otherwise hold the suite for minutes); the rate or latencies use what was done.
    budget_s: float = 1.5
    # Bulk loops (publish, confirms, consume, channels) stop issuing after this many seconds: a
    # fast client finishes the count well before, a slow one reports its rate over what it did.
    cap_s: float = 2.0


class Metric(NamedTuple):
    """One number shown per client: how it is computed from a run and which way is better."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    compute: Callable[[Raw, Scenario], float | None]


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row group of the table: a workload with its counts (default and --quick)."""

    name: str
    title: str
    count: int
    quick_count: int
    size: int
    metrics: list[Metric]
    preload: bool = False  # the runner fills the queue with `count` messages of `size` first
    window: int = 1000
    prefetch: int = 1000
    ack_every: int = 100
    needs_queue: bool = True
    needs_responder: bool = False
    # Whose rows the scenario has: "clients" (every client) or "pipelines" (the pika-streamdal
    # setups of pika-core's BlockingConnection, compared with the plugin absent).
    family: str = "clients"
    min_runs: int = 0  # runs at least this many times, whatever --runs says


def _rate(raw: Raw, scenario: Scenario) -> float | None:
    elapsed = float(raw["elapsed_s"])
    return float(raw["count"]) / elapsed if elapsed > 0 else None


def _mib_per_s(raw: Raw, scenario: Scenario) -> float | None:
    # Bodies go out and come back: both directions count as bytes moved by the client.
    elapsed = float(raw["elapsed_s"])
    moved = 2 * float(raw["count"]) * scenario.size / MIB
    return moved / elapsed if elapsed > 0 else None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _latency_median(raw: Raw, scenario: Scenario) -> float | None:
    values = [float(v) for v in raw["latencies_us"]]
    return statistics.median(values) if values else None


def _latency_p99(raw: Raw, scenario: Scenario) -> float | None:
    values = [float(v) for v in raw["latencies_us"]]
    return _percentile(values, 0.99) if values else None


def _phase_rate(phase: str) -> Callable[[Raw, Scenario], float | None]:
    def compute(raw: Raw, scenario: Scenario) -> float | None:
        elapsed = float(raw[f"{phase}_elapsed_s"])
        return float(raw["count"]) / elapsed if elapsed > 0 else None

    return compute


def _phase_cpu_us(phase: str) -> Callable[[Raw, Scenario], float | None]:
    # User plus system CPU time of the client process (getrusage), per message: on a loaded
    # machine this moves much less than wall-clock time, which counts the time spent waiting.
    def compute(raw: Raw, scenario: Scenario) -> float | None:
        count = float(raw["count"])
        return float(raw[f"{phase}_cpu_s"]) * 1e6 / count if count else None

    return compute


def _elapsed_ms(raw: Raw, scenario: Scenario) -> float | None:
    return float(raw["elapsed_s"]) * 1000.0


def _peak_rss(raw: Raw, scenario: Scenario) -> float | None:
    # The process's VmHWM as it reports it at the end (reset by exec, unlike ru_maxrss, which
    # counts the runner's pages at fork); the runner fills peak_rss_mib from one or the other.
    value = raw.get("peak_rss_mib")
    return float(value) if value is not None else None


MSG_RATE = Metric("msgs_per_s", "msg/s", "msg/s", True, _rate)
PEAK_RSS = Metric("peak_rss_mib", "peak RSS", "MiB", False, _peak_rss)

SCENARIOS: list[Scenario] = [
    Scenario(
        "publish",
        "publish 64 B, no confirms, until the broker holds every message",
        count=40_000,
        quick_count=2_000,
        size=64,
        metrics=[MSG_RATE],
    ),
    Scenario(
        "confirms",
        "publish 64 B with confirms, window 1000 (stop-and-wait where the client has no window)",
        count=40_000,
        quick_count=2_000,
        size=64,
        metrics=[MSG_RATE],
    ),
    Scenario(
        "consume",
        "consume a preloaded queue, 64 B, prefetch 1000, ack(multiple=True) every 100",
        count=40_000,
        quick_count=2_000,
        size=64,
        metrics=[MSG_RATE],
        preload=True,
    ),
    Scenario(
        "large",
        "publish then consume 1 MiB bodies (prefetch 10, ack each), MiB/s both ways",
        count=300,
        quick_count=10,
        size=MIB,
        metrics=[Metric("mib_per_s", "MiB/s", "MiB/s", True, _mib_per_s)],
        prefetch=10,
        ack_every=1,
    ),
    Scenario(
        "rpc",
        "request/reply round trip over direct reply-to, 64 B, one at a time",
        count=1_000,
        quick_count=200,
        size=64,
        metrics=[
            Metric("median_us", "median", "us", False, _latency_median),
            Metric("p99_us", "p99", "us", False, _latency_p99),
        ],
        needs_queue=False,
        needs_responder=True,
    ),
    Scenario(
        "memory",
        "consumer holding 1,000 unacked 64 KiB messages (prefetch 1000), peak RSS",
        count=1_000,
        quick_count=100,
        size=64 * 1024,
        metrics=[PEAK_RSS],
        preload=True,
    ),
    Scenario(
        "channels",
        "open 1,000 channels on one connection: time to open, peak RSS",
        count=1_000,
        quick_count=100,
        size=0,
        metrics=[Metric("open_ms", "open time", "ms", False, _elapsed_ms), PEAK_RSS],
        needs_queue=False,
    ),
]

# The message-pipeline family (issue 8): the same publish-then-consume run of pika-core's
# BlockingConnection with pika-streamdal absent, installed but unconfigured, with one pass-through
# interceptor, and with a PII-masking pipeline; rows are compared with "absent".
PIPELINES = Scenario(
    "pipelines",
    "publish then consume a 1 KiB JSON body with PII (pika-core BlockingConnection), "
    "prefetch 1000, ack every 100",
    count=20_000,
    quick_count=2_000,
    size=1024,
    metrics=[
        Metric("publish_msgs_per_s", "publish", "msg/s", True, _phase_rate("publish")),
        Metric("publish_cpu_us", "publish CPU per msg", "us", False, _phase_cpu_us("publish")),
        Metric("consume_msgs_per_s", "consume", "msg/s", True, _phase_rate("consume")),
        Metric("consume_cpu_us", "consume CPU per msg", "us", False, _phase_cpu_us("consume")),
    ],
    family="pipelines",
    min_runs=5,
)
SCENARIOS.append(PIPELINES)

BY_NAME: dict[str, Scenario] = {scenario.name: scenario for scenario in SCENARIOS}


def params_for(
    scenario: Scenario, host: str, port: int, queue: str, quick: bool, rpc_queue: str
) -> Params:
    """The parameters of one run of ``scenario``."""
    return Params(
        host=host,
        port=port,
        queue=queue,
        count=scenario.quick_count if quick else scenario.count,
        size=scenario.size,
        window=scenario.window,
        prefetch=scenario.prefetch,
        ack_every=scenario.ack_every,
        rpc_queue=rpc_queue,
        budget_s=1.0 if quick else 1.5,
        cap_s=1.0 if quick else 2.0,
    )
