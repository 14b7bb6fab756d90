"""The C baseline: bench/c/amqp_bench.c on rabbitmq-c (Debian's librabbitmq-dev)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from bench.drivers import Client
from bench.scenarios import Params

CLIENT = Client("c", "C (rabbitmq-c)", 0, "c")
SOURCE = pathlib.Path(__file__).resolve().parent.parent / "c" / "amqp_bench.c"
BINARY = SOURCE.parent / "build" / "amqp-bench"


def build() -> str | None:
    """Compile the C program when it is missing or older than its source; the reason on failure."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return None
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return "no C compiler: apt-get install gcc librabbitmq-dev"
    if not pathlib.Path("/usr/include/amqp.h").exists():
        return "rabbitmq-c headers missing: apt-get install librabbitmq-dev"
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    command = [compiler, "-O2", "-o", str(BINARY), str(SOURCE), "-lrabbitmq"]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return f"building the C program failed: {done.stderr.strip()[-300:]}"
    return None


def probe() -> str | None:
    return build()


def command(scenario: str, params: Params) -> list[str]:
    return [
        str(BINARY),
        scenario,
        "--host",
        params.host,
        "--port",
        str(params.port),
        "--queue",
        params.queue or "-",
        "--count",
        str(params.count),
        "--size",
        str(params.size),
        "--window",
        str(params.window),
        "--prefetch",
        str(params.prefetch),
        "--ack-every",
        str(params.ack_every),
        "--rpc-queue",
        params.rpc_queue or "-",
    ]
