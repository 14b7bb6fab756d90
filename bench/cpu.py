"""CPU per message of clients and of the broker, as the slope between two run sizes.

Run from the repository root, with RabbitMQ at 127.0.0.1:5672 on this machine::

    python -m bench.cpu [--scenario consume] [--counts 20000,100000] [--size 64]
                        [--rounds 5] CLIENT [CLIENT ...]

Each CLIENT is a name of ``python -m bench.run --list`` (``c`` for rabbitmq-c), optionally
``NAME@DIR`` to run that client from another checkout of this repository (its pika_core and
plugins come first on the path, and it runs with DIR as the working directory): an A/B of two
versions in one interleaved run. Every (client, count) pair runs once per round, in a new
random order each round; the scenario's driver runs in a fresh process, as in the benchmark.

It prints, per client, the medians' slope between the two counts: user and system CPU of the
client process (``wait4`` rusage), CPU of the broker's Erlang VM (``/proc/PID/stat`` of every
beam.smp: the test's own nodes too, so run it with no other broker busy), voluntary context
switches (the client's wake-ups) and minor page faults per message, and the wall-clock rate.
The slope takes out process start-up, connection set-up and teardown. The wall-clock rate of a
single run is noise on a shared machine; CPU per message moves only when the code or the read
pattern does, which makes this the measure for an A/B (docs/benchmarks.md, the profile findings).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

from bench.broker import Broker
from bench.drivers import discover, rabbitmq_c
from bench.run import _environment, _python_command
from bench.scenarios import SCENARIOS, params_for

PLUGIN_DIRS = ("pika_twisted", "pika_tornado", "pika_gevent", "pika_streamdal")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Sample(NamedTuple):
    wall_s: float
    user_s: float
    system_s: float
    broker_s: float
    wakeups: int
    page_faults: int


def _beam_pids() -> list[int]:
    found = subprocess.run(["pgrep", "beam.smp"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def _broker_cpu_s(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def _worker_environment(name: str, tree: str) -> dict[str, str]:
    """bench.run's environment for this client's workers, with ``tree`` first on the path."""
    drivers = {module.CLIENT.name: module for module in discover()}
    env = _environment(drivers[name]) if name in drivers else dict(os.environ)
    paths = [tree] + [os.path.join(tree, "plugins", plugin) for plugin in PLUGIN_DIRS]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run_once(
    spec: str, scenario: str, count: int, size: int, broker: Broker, pids: list[int]
) -> Sample:
    name, _, tree = spec.partition("@")
    tree = os.path.abspath(tree or os.getcwd())
    queue = "bench-cpu"
    broker.delete(queue)
    broker.declare(queue)
    if scenario == "consume":
        broker.fill(queue, count, size)
    # The benchmark's own parameters for the scenario, at this count and size, not time-capped.
    (chosen,) = [each for each in SCENARIOS if each.name == scenario]
    params = params_for(chosen, "127.0.0.1", 5672, queue, False, "")
    params = dataclasses.replace(params, count=count, size=size, cap_s=60.0)
    if name == "c":
        command = rabbitmq_c.command(scenario, params)
    else:
        command = _python_command(name, scenario, params)
    before = _broker_cpu_s(pids)
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=_worker_environment(name, tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    # This child's own resource usage (RUSAGE_CHILDREN would add the preloading program's).
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = 0 if status == 0 else 1  # reaped here; keeps Popen from waiting again
    wall = time.perf_counter() - started
    broker_s = _broker_cpu_s(pids) - before
    if status != 0:
        raise SystemExit(f"{spec} {scenario} {count} failed:\n{stderr.decode()[-2000:]}")
    return Sample(wall, usage.ru_utime, usage.ru_stime, broker_s, usage.ru_nvcsw, usage.ru_minflt)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("clients", nargs="+", help="client names, or NAME@DIR for a checkout")
    parser.add_argument("--scenario", default="consume", choices=("consume", "publish", "large"))
    parser.add_argument("--counts", default="20000,100000", help="the two run sizes")
    parser.add_argument("--size", type=int, default=64, help="body size in bytes")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    small, large = (int(part) for part in args.counts.split(","))
    if not 0 < small < large:
        parser.error("--counts needs two sizes, smaller first")
    pids = _beam_pids()
    if not pids:
        raise SystemExit("no beam.smp process: is RabbitMQ running here?")
    broker = Broker("127.0.0.1", 5672, rabbitmq_c.build() is None)
    samples: dict[tuple[str, int], list[Sample]] = {}
    pairs = [(client, count) for client in args.clients for count in (small, large)]
    for round_number in range(args.rounds):
        random.shuffle(pairs)
        for client, count in pairs:
            sample = _run_once(client, args.scenario, count, args.size, broker, pids)
            samples.setdefault((client, count), []).append(sample)
        sys.stderr.write(f"round {round_number + 1}/{args.rounds} done\n")
    messages = large - small
    print(f"{args.scenario}, {args.size}-byte bodies, slope between {small} and {large} messages")
    print("client: user / system / broker CPU in us per message, wake-ups and page faults per")
    print("message, wall-clock rate over the slope")
    for client in args.clients:

        def slope(field: int, client: str = client) -> float:
            high = statistics.median([sample[field] for sample in samples[(client, large)]])
            low = statistics.median([sample[field] for sample in samples[(client, small)]])
            return (high - low) / messages

        wall = slope(0)
        rate = f"{1 / wall:,.0f} msg/s" if wall > 0 else "n/a"
        print(
            f"{client:36s} user {slope(1) * 1e6:7.2f}  system {slope(2) * 1e6:7.2f}  "
            f"broker {slope(3) * 1e6:7.2f}  wake-ups {slope(4):.3f}  "
            f"faults {slope(5):.2f}  rate {rate}"
        )
    broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
