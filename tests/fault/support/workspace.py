"""Where the tests' own broker nodes live: one run directory per pytest process, free ports,
the shared Erlang cookie, and the clean-up of nodes left behind by a crashed run.

Layout: ``<root>/run-<pid>/`` holds ``owner`` (the pytest pid), ``home/.erlang.cookie`` (``HOME``
for the nodes and for rabbitmqctl, so that both share the cookie) and one directory per node
with its data, log, config and ``pid`` file. ``<root>`` is ``$PIKA_CORE_FAULT_DIR`` or
``<tmp>/pika-core-fault``.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

__all__ = [
    "FORBIDDEN_PORTS",
    "Workspace",
    "allocate_ports",
    "kill_leftover_nodes",
    "pid_alive",
    "workspace_root",
]

# The machine's default node (AMQP, distribution, management), epmd and the CLI's own
# distribution range: never used for a test node.
FORBIDDEN_PORTS = frozenset([5672, 25672, 15672, 4369, *range(35672, 35683)])
# Test nodes take an AMQP port P in this range, P + 10000 (management) and P + 20000
# (distribution); none of them can collide with the forbidden ports.
PORT_RANGE = (5700, 5999)


def workspace_root() -> Path:
    """The directory that holds every run's nodes (found again after a crash)."""
    configured = os.environ.get("PIKA_CORE_FAULT_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "pika-core-fault"


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _port_free(port: int) -> bool:
    if port in FORBIDDEN_PORTS:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(taken: list[int]) -> tuple[int, int, int]:
    """(amqp, management, distribution) ports that are free now and not in ``taken``."""
    low, high = PORT_RANGE
    candidates = list(range(low, high + 1))
    # A random order keeps two concurrent test runs from racing for the same ports.
    random.shuffle(candidates)
    for amqp in candidates:
        ports = (amqp, amqp + 10000, amqp + 20000)
        if any(port in taken for port in ports):
            continue
        if all(_port_free(port) for port in ports):
            return ports
    raise RuntimeError(f"no free port triple in {PORT_RANGE}: stop leftover test brokers")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def kill_leftover_nodes(root: Path | None = None) -> list[int]:
    """SIGKILL the nodes of runs whose pytest process is gone; remove their directories.

    A node is only killed when its command line names its run directory, so that a recycled
    pid never takes down an unrelated process. Returns the pids killed.
    """
    root = root or workspace_root()
    killed: list[int] = []
    if not root.is_dir():
        return killed
    for run_dir in root.glob("run-*"):
        owner = _read_pid(run_dir / "owner")
        if owner is not None and owner != os.getpid() and pid_alive(owner):
            continue
        for pid_file in run_dir.glob("*/pid"):
            pid = _read_pid(pid_file)
            if pid is None or not pid_alive(pid):
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(run_dir).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        for pid in killed:
            _wait_gone(pid, 10.0)
        shutil.rmtree(run_dir, ignore_errors=True)
    return killed


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


class Workspace:
    """This run's directory, cookie home and port bookkeeping."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or workspace_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.dir = self.root / f"run-{os.getpid()}"
        self.dir.mkdir(exist_ok=True)
        (self.dir / "owner").write_text(f"{os.getpid()}\n")
        self.home = self.dir / "home"
        self.home.mkdir(exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        self.taken_ports: list[int] = []
        self.tag = f"pikafault{os.getpid()}"

    def node_dir(self, short_name: str) -> Path:
        """A node's directory (created)."""
        path = self.dir / short_name
        path.mkdir(exist_ok=True)
        return path

    def allocate_ports(self) -> tuple[int, int, int]:
        """Free (amqp, management, distribution) ports, remembered so no two nodes share them."""
        ports = allocate_ports(self.taken_ports)
        self.taken_ports.extend(ports)
        return ports

    def allocate_port(self) -> int:
        """One more free port in the test range (a TLS listener's), remembered like the others."""
        low, high = PORT_RANGE
        candidates = [port for port in range(low, high + 1) if port not in self.taken_ports]
        random.shuffle(candidates)
        for port in candidates:
            if _port_free(port):
                self.taken_ports.append(port)
                return port
        raise RuntimeError(f"no free port in {PORT_RANGE}: stop leftover test brokers")

    def remove(self) -> None:
        """Delete the run directory (after every node has stopped)."""
        shutil.rmtree(self.dir, ignore_errors=True)
