"""Every client through the same scenarios, in one command: ``python -m bench.run`` (or
``nox -s bench``), from the repository root, in an environment that has the peers
(bench/requirements.txt) and pika-core.

Clients are interleaved (all clients, then all clients again, ...) so that machine drift hits
all alike, in a new random order each round (``--seed``) so that no client always runs first
or right after the same one; each (client, scenario, run) is a fresh process, so memory numbers are clean and a crash costs one
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
import random
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
PIPELINE_REFERENCE = "pipe-absent"  # the pipelines rows are compared with the plugin absent
RUN_TIMEOUT_S = 180.0
PLUGINS_ENV = "PIKA_CORE_PLUGINS"
CORE_ROW_PLUGINS = "gevent,tornado,twisted"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per client and scenario (5)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    parser.add_argument("--clients", help="comma-separated client names (see --list)")
    parser.add_argument("--scenarios", help="comma-separated scenario names (see --list)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE, help="the x ref column's row")
    parser.add_argument("--out", default=str(RESULTS), help="where latest.* are written")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG (no matplotlib)")
    parser.add_argument(
        "--seed", type=int, help="the seed of each round's client order (default: random)"
    )
    parser.add_argument(
        "--fixed-order", action="store_true", help="every round in the table's order"
    )
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


def _environment(module: ModuleType) -> dict[str, str]:
    """The worker's environment: the runner's, with the driver module's ENV applied (a None
    value removes the variable). pika-core rows load the I/O-framework plugins only, so that
    an installed pika-streamdal (measured in the pipelines rows) does not touch them."""
    env = dict(os.environ)
    changes: dict[str, str | None] = {}
    if module.CLIENT.family == "pika-core":
        changes[PLUGINS_ENV] = CORE_ROW_PLUGINS
    changes.update(getattr(module, "ENV", {}))
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _execute(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str, float, float]:
    """Run one driver process; (exit status, stdout, stderr, wall seconds, peak RSS MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=str(ROOT), env=env)
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


def _probe_batch(modules: list[ModuleType]) -> dict[str, str | None]:
    """Why each client cannot run at all (None when it can), all set up in one worker process
    (one process per client only if that one crashes)."""
    if not modules:
        return {}
    names = [module.CLIENT.name for module in modules]
    status, stdout, stderr, _, _ = _execute(
        [sys.executable, "-m", "bench.drivers", "--probe", *names], 120
    )
    if status == 0 and stdout.strip():
        return dict(json.loads(stdout.strip().splitlines()[-1])["reasons"])
    if len(modules) == 1:
        return {names[0]: f"probe crashed: {stderr.strip()[-200:]}"}
    reasons: dict[str, str | None] = {}
    for module in modules:
        reasons.update(_probe_batch([module]))
    return reasons


def _probe(modules: list[ModuleType]) -> dict[str, str | None]:
    """Why each client cannot run: its own ``probe()`` where it has one, else a worker's try."""
    reasons: dict[str, str | None] = {}
    batch = []
    for module in modules:
        probe = getattr(module, "probe", None)
        if probe is not None:
            reasons[module.CLIENT.name] = probe()
        else:
            batch.append(module)
    reasons.update(_probe_batch(batch))
    return reasons


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
    status, stdout, stderr, wall, peak = _execute(command, RUN_TIMEOUT_S, _environment(module))
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
    capped = raw.get("count") is not None and int(raw["count"]) < params.count
    if capped and "time-capped" not in str(raw.get("note", "")):
        limit = params.budget_s if scenario.needs_responder else params.cap_s
        raw["note"] = f"{raw.get('note', '')}, time-capped at {limit:g} s".strip(", ")
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


def _rows(scenario: Scenario, clients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The clients a scenario runs over: the pipeline variants, or every other client."""
    want_pipeline = scenario.family == "pipelines"
    return [c for c in clients if (c["family"] == "pipeline") == want_pipeline]


def _runs(scenario: Scenario, runs: int) -> int:
    return max(runs, scenario.min_runs)


def main(argv: list[str] | None = None) -> int:
    begun = time.perf_counter()
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
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    order = random.Random(seed)
    print(
        f"bench {suite}: {len(client_names)} clients x {len(scenarios)} scenarios x "
        f"{args.runs} runs{' (quick)' if args.quick else ''}",
        flush=True,
    )
    for scenario in scenarios:
        count = scenario.quick_count if args.quick else scenario.count
        runs = _runs(scenario, args.runs)
        print(
            f"  {scenario.name:9} {count:>7,} x {scenario.size:>7,} B  {runs} runs  "
            f"{scenario.title}"
        )

    reasons = _probe([modules[name] for name in client_names])
    clients: list[dict[str, Any]] = []
    for name in client_names:
        module = modules[name]
        reason = reasons.get(name)
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
    scenarios = [s for s in scenarios if _rows(s, clients)]

    broker = Broker(args.host, args.port, use_c)
    responder = None
    rpc_queue = f"bench-{suite}-rpc"
    if any(s.needs_responder and _rows(s, available) for s in scenarios):
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
    total = sum(_runs(s, args.runs) * len(_rows(s, available)) for s in scenarios)
    done = 0
    started = time.perf_counter()
    try:
        for scenario in scenarios:
            runs = _runs(scenario, args.runs)
            for run in range(1, runs + 1):
                round_clients = _rows(scenario, available)
                if not args.fixed_order:
                    order.shuffle(round_clients)
                for client in round_clients:
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
                        f"{scenario.name:9} run {run}/{runs} {client['name']:20} "
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
    client_scenarios = [s for s in scenarios if s.family != "pipelines"]
    pipeline_scenarios = [s for s in scenarios if s.family == "pipelines"]
    summary = report.summarise(
        samples,
        client_scenarios,
        [c for c in clients if c["family"] != "pipeline"],
        reference,
        BASELINE,
    )
    pipelines = report.summarise(
        samples,
        pipeline_scenarios,
        [c for c in clients if c["family"] == "pipeline"],
        PIPELINE_REFERENCE,
        None,
    )
    elapsed = time.perf_counter() - begun
    if summary:
        print(report.text_table(summary, labels))
        print(
            f"\nx ref: ratio of the median to {labels.get(reference, reference)}'s; x C: to "
            f"{labels.get(BASELINE, BASELINE)}'s (the raw ratio, so below 1 is better for "
            "latency and memory)."
        )
    if pipelines:
        print("\nMessage pipelines (pika-streamdal), pika-core BlockingConnection:")
        print(report.text_table(pipelines, labels))
        print(
            f"\nx ref: ratio of the median to {labels.get(PIPELINE_REFERENCE)}'s (for CPU per "
            "message, below 1 is cheaper)."
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
            "order": "table" if args.fixed_order else f"shuffled each round, seed {seed}",
            "quick": args.quick,
            "elapsed_s": round(elapsed, 1),
            "reference": reference,
            "baseline": BASELINE,
            "pipeline_reference": PIPELINE_REFERENCE,
            "responder": responder.kind if responder else None,
            "machine": _machine(),
            "scenarios": [
                {
                    "name": s.name,
                    "title": s.title,
                    "count": s.quick_count if args.quick else s.count,
                    "size": s.size,
                    "runs": _runs(s, args.runs),
                    "cap_s": params_for(s, "", 0, "", args.quick, "").cap_s,
                }
                for s in scenarios
            ],
        },
        "clients": clients,
        "summary": summary,
        "pipelines": pipelines,
        "samples": samples,
    }
    (out / "latest.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    markdown = report.markdown(summary, labels, reference, BASELINE)
    if pipelines:
        markdown += "\n" + report.markdown(pipelines, labels, PIPELINE_REFERENCE, None)
    (out / "latest.md").write_text(markdown, encoding="utf-8")
    written = [str(out / "latest.json"), str(out / "latest.md")]
    if not args.no_chart:
        try:
            from bench import chart

            if summary:
                chart.draw(summary, labels, str(out / "latest.png"), title)
                written.append(str(out / "latest.png"))
            if pipelines:
                pipeline_title = (
                    f"pika-streamdal message pipelines, pika-core BlockingConnection, medians "
                    f"of {max(_runs(s, args.runs) for s in pipeline_scenarios)} runs"
                )
                chart.draw(pipelines, labels, str(out / "latest-pipelines.png"), pipeline_title)
                written.append(str(out / "latest-pipelines.png"))
        except ImportError as exc:
            print(f"no chart ({exc}): pip install matplotlib, or pass --no-chart")
    print("wrote " + ", ".join(written))
    print(f"Suite time {time.perf_counter() - begun:.0f} s ({done} runs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
