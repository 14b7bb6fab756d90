"""``python -m pika_core demo``: options, the round trip's numbers, clean failures, cleanup."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pika_core import exceptions
from pika_core.demo import DemoStats, add_subcommand

ROOT = Path(__file__).resolve().parents[2]


def run_demo(*args: str, module: str = "pika_core.demo") -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pika-core")
    add_subcommand(parser.add_subparsers())
    return parser


def test_add_subcommand_registers_demo_with_its_defaults() -> None:
    args = demo_parser().parse_args(["demo"])
    assert args.url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert (args.count, args.body_size, args.queue) == (10_000, 64, "")
    assert callable(args.handler)
    args = demo_parser().parse_args(["demo", "--count", "7", "--body-size", "8", "--queue", "q"])
    assert (args.count, args.body_size, args.queue) == (7, 8, "q")


@pytest.mark.parametrize(
    ("option", "value"), [("--count", "0"), ("--body-size", "7"), ("--timeout", "0")]
)
def test_out_of_range_options_are_usage_errors(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        demo_parser().parse_args(["demo", option, value])
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_help_lists_the_options() -> None:
    result = run_demo("--help")
    assert result.returncode == 0
    for option in ("--url", "--count", "--body-size", "--queue", "--max-outstanding"):
        assert option in result.stdout


def test_python_m_pika_core_offers_the_demo_subcommand() -> None:
    result = run_demo("demo", "--help", module="pika_core")
    assert result.returncode == 0, result.stderr
    assert "--body-size" in result.stdout and "--count" in result.stdout


def test_unreachable_broker_is_one_clear_line_and_no_traceback() -> None:
    result = run_demo("--url", "amqp://guest:s3cret@127.0.0.1:1/%2F", "--count", "5")
    assert result.returncode == 1
    assert result.stderr.startswith("pika-core demo: cannot connect to the broker at 127.0.0.1:1")
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_a_bad_url_is_a_usage_error() -> None:
    result = run_demo("--url", "http://127.0.0.1/")
    assert result.returncode == 2
    assert result.stderr.startswith("pika-core demo: bad --url:")
    assert "Traceback" not in result.stderr


def test_stats_progress_line_and_summary() -> None:
    stats = DemoStats(count=100)
    stats.published, stats.outstanding, stats.consumed = 100, 10, 80
    stats.latencies.extend(i / 1000 for i in range(1, 101))  # 1 ms .. 100 ms
    line = stats.progress_line(stats.started + 1.0)
    assert re.search(r"published 100  confirmed  90  consumed  80", line), line
    assert re.search(r"out\s+100 msg/s\s+in\s+80 msg/s", line), line
    assert "round trip   50.50 ms" in line  # the mean of the window
    summary = "\n".join(stats.summary(64, "q", "here"))
    assert "min 1.00 ms, median 51.00 ms, p99 99.00 ms, max 100.00 ms" in summary
    assert re.search(r"confirmed\s+90 in", summary)


@pytest.mark.broker
def test_demo_round_trip_reports_every_message_and_deletes_its_queue(amqp_url: str) -> None:
    queue = f"pika-core-test.demo.{uuid.uuid4().hex[:10]}"
    result = run_demo(
        "--url", amqp_url, "--count", "3000", "--body-size", "100", "--queue", queue,
        "--max-outstanding", "200", "--prefetch", "300", "--interval", "0.01",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert f"3000 messages of 100 bytes, queue {queue}" in out
    progress = [line for line in out.splitlines() if line.startswith("published ")]
    assert progress, out
    assert re.match(r"published 3000  confirmed 3000  consumed 3000  \|", progress[-1]), out
    for label in ("published", "confirmed", "consumed"):
        match = re.search(
            rf"^\s+{label}\s+(\d+) in\s+([\d.]+) s\s+([\d,]+) msg/s$", out, re.MULTILINE
        )
        assert match is not None, (label, out)
        assert int(match.group(1)) == 3000
        assert float(match.group(2)) > 0 and int(match.group(3).replace(",", "")) > 0
    latency = re.search(r"round trip min ([\d.]+) ms, median ([\d.]+) ms, p99 ([\d.]+) ms", out)
    assert latency is not None, out
    low, median, p99 = (float(value) for value in latency.groups())
    assert 0 < low <= median <= p99
    assert f"queue {queue} deleted" in out

    from pika_core.adapters.blocking_connection import BlockingConnection
    from pika_core.parameters import URLParameters

    with BlockingConnection(URLParameters(amqp_url)) as connection:
        with pytest.raises(exceptions.ChannelClosedByBroker) as closed:
            connection.channel().queue_declare(queue, passive=True)
        assert closed.value.reply_code == 404


@pytest.mark.broker
def test_demo_refuses_a_queue_that_already_holds_messages(amqp_url: str) -> None:
    from pika_core.adapters.blocking_connection import BlockingConnection
    from pika_core.parameters import URLParameters

    queue = f"pika-core-test.demo.{uuid.uuid4().hex[:10]}"
    with BlockingConnection(URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        channel.queue_declare(queue)
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"someone else's message")
        try:
            result = run_demo("--url", amqp_url, "--count", "10", "--queue", queue)
            assert result.returncode == 1
            assert f"queue {queue} already holds 1 messages" in result.stderr
            # The demo left the queue and its message alone.
            assert channel.queue_declare(queue, passive=True).method.message_count == 1
        finally:
            channel.queue_delete(queue)
