"""Every client through the same scenarios, in one command: ``python -m bench.run`` (or
``nox -s bench``), from the repository root, in an environment that has the peers
(bench/requirements.txt) and pika-core.

Clients are interleaved (A B C ... A B C ...) so that machine drift hits all alike; each
(client, scenario, run) is a fresh process, so memory numbers are clean and a crash costs one
sample. Prints progress, then per scenario metric the medians, min-max and ratios to the
reference row (pika-core BlockingConnection) and to the C baseline; writes
bench/results/latest.json, latest.md and latest.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from types import ModuleType
from typing import Any

from bench import report
from bench.broker import Broker, Responder
from bench.drivers import discover
from bench.scenarios import BY_NAME, SCENARIOS, Params, Scenario, params_for

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_REFERENCE = "pika-core-blocking"
BASELINE = "c"
RUN_TIMEOUT_S = 180.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per client and scenario (3)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    parser.add_argument("--clients", help="comma-separated client names (see --list)")
    parser.add_argument("--scenarios", help="comma-separated scenario names (see --list)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="the x ref column's row")
    parser.add_argument("--out", default=str(RESULTS), help="where latest.* are written")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib)")
    parser.add_argument("--list", action="store_true", help="list clients and scenarios")
    return parser.parse_args(argv)


def _select(wanted: str | None, known: list[str], what: str) -> list[str]:
    if not wanted:
        return known
    chosen = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return chosen


def _python_command(client: str, scenario: str, params: Params) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.drivers",
        client,
        scenario,
        json.dumps(dataclasses.asdict(params)),
    ]


def _execute(command: list[str], timeout: float) -> tuple[int, str, str, float, float]:
    """Run one driver process; (exit status, stdout, stderr, wall seconds, peak RSS MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=str(ROOT))
        deadline = time.monotonic() + timeout
        status = None
        usage = None
        while status is None:
            pid, raw_status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(raw_status)
                break
            if time.monotonic() > deadline:
                process.kill()
                _, raw_status, usage = os.wait4(process.pid, 0)
                status = -9
                break
            time.sleep(0.005)
        process.returncode = status
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        peak = usage.ru_maxrss / 1024.0 if usage is not None else 0.0  # KiB on Linux
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        if status == -9 and wall >= timeout:
            stderr += f"\nkilled after {timeout:.0f} s"
        return status, stdout, stderr, wall, peak


def _probe(module: ModuleType) -> str | None:
    """Why a client cannot run at all (None when it can)."""
    probe = getattr(module, "probe", None)
    if probe is not None:
        return probe()  # type: ignore[no-any-return]
    status, stdout, stderr, _, _ = _execute(
        [sys.executable, "-m", "bench.drivers", "--probe", module.CLIENT.name], 60
    )
    if status != 0:
        return f"probe crashed: {stderr.strip()[-200:]}"
    answer = json.loads(stdout.strip().splitlines()[-1])
    return None if answer["status"] == "ok" else str(answer["reason"])


def _sample(module: ModuleType, scenario: Scenario, params: Params, run: int) -> dict[str, Any]:
    client = module.CLIENT.name
    sample: dict[str, Any] = {"client": client, "scenario": scenario.name, "run": run}
    reason = getattr(module, "UNSUPPORTED", {}).get(scenario.name)
    if reason:
        sample.update(status="n/a", reason=reason, metrics={})
        return sample
    if hasattr(module, "command"):
        command = module.command(scenario.name, params)
    else:
        command = _python_command(client, scenario.name, params)
    status, stdout, stderr, wall, peak = _execute(command, RUN_TIMEOUT_S)
    sample.update(wall_s=round(wall, 3), peak_rss_mib=round(peak, 1))
    raw: dict[str, Any] = {}
    lines = stdout.strip().splitlines()
    if status == 0 and lines:
        try:
            raw = json.loads(lines[-1])
        except ValueError:
            raw = {}
    if status != 0 or not raw:
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {status}"]
        sample.update(status="failed", reason=f"failed: {tail[0][:200]}", metrics={})
        sample["stderr"] = stderr[-2000:]
        return sample
    if raw.get("status") == "n/a":
        sample.update(status="n/a", reason=raw.get("reason", ""), metrics={})
        return sample
    hwm = raw.get("vm_hwm_mib")
    raw["peak_rss_mib"] = hwm if hwm is not None and hwm > 0 else peak
    if raw.get("count") is not None and int(raw["count"]) < params.count:
        capped = f"time-capped after {params.budget_s:g} s"
        if "time-capped" not in str(raw.get("note", "")):
            raw["note"] = f"{raw.get('note', '')}, {capped}".strip(", ")
    sample["peak_rss_mib"] = round(raw["peak_rss_mib"], 1)
    metrics = {metric.key: metric.compute(raw, scenario) for metric in scenario.metrics}
    sample.update(status="ok", note=raw.get("note", ""), count=raw.get("count"), metrics=metrics)
    if "elapsed_s" in raw:
        sample["elapsed_s"] = raw["elapsed_s"]
    return sample


def _brief(scenario: Scenario, sample: dict[str, Any]) -> str:
    if sample["status"] != "ok":
        return f"{sample['status']}: {sample.get('reason', '')}"
    parts = []
    for metric in scenario.metrics:
        value = sample["metrics"].get(metric.key)
        if value is not None:
            parts.append(f"{value:,.1f} {metric.unit}")
    return ", ".join(parts) + f" ({sample['wall_s']:.1f} s)"


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modules = {module.CLIENT.name: module for module in discover()}
    if args.list:
        print("clients:   " + ", ".join(modules))
        print("scenarios: " + ", ".join(s.name for s in SCENARIOS))
        return 0
    client_names = _select(args.clients, list(modules), "clients")
    scenarios = [BY_NAME[n] for n in _select(args.scenarios, list(BY_NAME), "scenarios")]
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    suite = uuid.uuid4().hex[:8]
    print(
        f"bench {suite}: {len(client_names)} clients x {len(scenarios)} scenarios x "
        f"{args.runs} runs{' (quick)' if args.quick else ''}",
        flush=True,
    )
    for scenario in scenarios:
        count = scenario.quick_count if args.quick else scenario.count
        print(f"  {scenario.name:9} {count:>7,} x {scenario.size:>7,} B  {scenario.title}")

    clients: list[dict[str, Any]] = []
    for name in client_names:
        module = modules[name]
        reason = _probe(module)
        clients.append(
            {
                "name": name,
                "label": module.CLIENT.label,
                "family": module.CLIENT.family,
                "available": reason is None,
                "reason": reason,
            }
        )
        state = "ok" if reason is None else f"n/a: {reason}"
        print(f"  client {name:20} {state}", flush=True)
    available = [c for c in clients if c["available"]]
    use_c = any(c["name"] == BASELINE for c in available)

    broker = Broker(args.host, args.port, use_c)
    responder = None
    rpc_queue = f"bench-{suite}-rpc"
    if any(s.needs_responder for s in scenarios) and available:
        responder = Responder(args.host, args.port, rpc_queue, use_c)
        print(f"  rpc responder: {responder.kind}", flush=True)

    samples: list[dict[str, Any]] = []
    for client in clients:
        if not client["available"]:
            for scenario in scenarios:
                samples.append(
                    {
                        "client": client["name"],
                        "scenario": scenario.name,
                        "run": 0,
                        "status": "n/a",
                        "reason": client["reason"],
                        "metrics": {},
                    }
                )
    total = len(scenarios) * args.runs * len(available)
    done = 0
    started = time.perf_counter()
    try:
        for scenario in scenarios:
            for run in range(1, args.runs + 1):
                for client in available:
                    queue = ""
                    if scenario.needs_queue:
                        queue = f"bench-{suite}-{scenario.name}-{client['name']}-{run}"
                        broker.declare(queue)
                    params = params_for(
                        scenario, args.host, args.port, queue, args.quick, rpc_queue
                    )
                    if scenario.preload:
                        broker.fill(queue, params.count, params.size)
                    sample = _sample(modules[client["name"]], scenario, params, run)
                    if queue:
                        broker.delete(queue)
                    samples.append(sample)
                    done += 1
                    print(
                        f"[{done:>3}/{total}] {time.perf_counter() - started:6.1f}s "
                        f"{scenario.name:9} run {run}/{args.runs} {client['name']:20} "
                        f"{_brief(scenario, sample)}",
                        flush=True,
                    )
                    if sample["status"] == "failed":
                        sys.stderr.write(sample.get("stderr", "")[-800:] + "\n")
    finally:
        if responder is not None:
            responder.stop()
        broker.close()

    labels = {c["name"]: c["label"] for c in clients}
    names = {c["name"] for c in available}
    reference = (
        args.reference
        if args.reference in names
        else next((c["name"] for c in available if c["family"] == "pika-core"), args.reference)
    )
    summary = report.summarise(samples, scenarios, clients, reference, BASELINE)
    elapsed = time.perf_counter() - started
    print(report.text_table(summary, labels))
    print(
        f"\nx ref: ratio of the median to {labels.get(reference, reference)}'s; x C: to "
        f"{labels.get(BASELINE, BASELINE)}'s (the raw ratio, so below 1 is better for "
        f"latency and memory). Suite time {elapsed:.0f} s."
    )

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    title = (
        f"pika-core client benchmark, medians of {args.runs} runs"
        f"{' (quick)' if args.quick else ''}, {datetime.date.today().isoformat()}"
    )
    data = {
        "suite": {
            "id": suite,
            "title": title,
            "command": command.strip(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "runs": args.runs,
            "quick": args.quick,
            "elapsed_s": round(elapsed, 1),
            "reference": reference,
            "baseline": BASELINE,
            "responder": responder.kind if responder else None,
            "machine": _machine(),
            "scenarios": [
                {
                    "name": s.name,
                    "title": s.title,
                    "count": s.quick_count if args.quick else s.count,
                    "size": s.size,
                }
                for s in scenarios
            ],
        },
        "clients": clients,
        "summary": summary,
        "samples": samples,
    }
    (out / "latest.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (out / "latest.md").write_text(
        report.markdown(summary, labels, reference, BASELINE), encoding="utf-8"
    )
    written = [str(out / "latest.json"), str(out / "latest.md")]
    if not args.no_chart:
        try:
            from bench import chart

            chart.draw(summary, labels, str(out / "latest.png"), title)
            written.append(str(out / "latest.png"))
        except ImportError as exc:
            print(f"no chart ({exc}): pip install matplotlib, or pass --no-chart")
    print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
