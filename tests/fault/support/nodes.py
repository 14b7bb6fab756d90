"""RabbitMQ nodes of the tests' own: started, stopped, killed and restarted at will.

Destructive tests never touch the shared broker on 5672. Each node here runs the Debian
package's ``/usr/lib/rabbitmq/bin/rabbitmq-server`` directly (the ``/usr/sbin`` wrapper would
switch to the default node) with a private environment: its own node name, ports, data and log
directories, config files and pid file, and ``HOME`` pointing at the run's cookie. See
/work/shared/reference/rabbitmq-on-one-machine.md for the recipe and the timings.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Sequence

from .management import JsonObject, ManagementApi
from .workspace import Workspace, pid_alive

__all__ = ["RABBITMQ_BIN", "BrokerNode", "NodeError", "kill_launched_nodes", "start_nodes"]

DEFAULT_WATERMARK = 0.4
RABBITMQ_BIN = Path(os.environ.get("PIKA_CORE_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


class NodeError(RuntimeError):
    """A node did not start, stop or answer a command."""


# Every node this process launched, SIGKILLed at exit as a backstop to the fixtures' teardown.
_LAUNCHED: list[BrokerNode] = []


def kill_launched_nodes() -> None:
    """SIGKILL every node this process started that is still alive (fast, data discarded)."""
    for node in _LAUNCHED:
        pid = node.pid
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    for node in _LAUNCHED:
        pid = node.pid
        if pid is not None:
            _wait_gone(pid, 10.0)
        node._reap()
    _LAUNCHED.clear()


atexit.register(kill_launched_nodes)


class BrokerNode:
    """One RabbitMQ node on loopback ports of its own, with management enabled."""

    def __init__(
        self,
        workspace: Workspace,
        short_name: str,
        extra_config: dict[str, str] | None = None,
        plugins: Sequence[str] = (),
    ) -> None:
        self.workspace = workspace
        self.short_name = short_name
        self.name = f"{short_name}@localhost"
        self.amqp_port, self.management_port, self.dist_port = workspace.allocate_ports()
        self.dir = workspace.node_dir(short_name)
        self.data_dir = self.dir / "mnesia"
        self.log_dir = self.dir / "log"
        self.log_file = self.log_dir / f"{self.name}.log"
        self.pid_file = self.dir / "pid"
        self.stdout_file = self.dir / "stdout.log"
        self.api = ManagementApi(self.management_port)
        self._server: subprocess.Popen[bytes] | None = None
        self.watermark_changed = False
        self._write_config(extra_config or {}, plugins)

    def __repr__(self) -> str:
        return f"<BrokerNode {self.name} amqp={self.amqp_port} http={self.management_port}>"

    # --- addresses ---------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the AMQP listener."""
        return ("127.0.0.1", self.amqp_port)

    def url(self, query: str = "") -> str:
        """An AMQP URL for guest on this node; ``query`` such as ``heartbeat=2`` is appended."""
        base = f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"
        return f"{base}?{query}" if query else base

    # --- configuration and environment -------------------------------------------------------

    def _write_config(self, extra: dict[str, str], plugins: Sequence[str]) -> None:
        settings = {
            "listeners.tcp.default": f"127.0.0.1:{self.amqp_port}",
            "management.tcp.port": str(self.management_port),
            "management.tcp.ip": "127.0.0.1",
            "loopback_users": "none",
            # Connections appear in GET /api/connections after this interval (default 5 s).
            "collect_statistics_interval": "500",
            "consumer_timeout": "60000",
        }
        settings.update(extra)
        lines = [f"{key} = {value}" for key, value in settings.items()]
        (self.dir / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (self.dir / "advanced.config").write_text("[].\n")
        enabled = ",".join(["rabbitmq_management", *plugins])
        (self.dir / "enabled_plugins").write_text(f"[{enabled}].\n")
        # Empty on purpose: /etc/rabbitmq/rabbitmq-env.conf names the default node.
        (self.dir / "rabbitmq-env.conf").write_text("")

    def environment(self) -> dict[str, str]:
        """The environment for rabbitmq-server and rabbitmqctl aimed at this node."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))
        }
        env.update(
            {
                "HOME": str(self.workspace.home),
                "RABBITMQ_NODENAME": self.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.amqp_port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.data_dir),
                "RABBITMQ_LOG_BASE": str(self.log_dir),
                "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self.pid_file),
                "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
                # Distribution on loopback only, like the machine's default node.
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
                "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        )
        return env

    # --- the OS process ----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The beam process's pid (from the pid file), or None before the first start."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        """True while the node's Erlang VM is alive (the app may still be stopped)."""
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def start(self, timeout: float = 120.0) -> float:
        """Boot the node (data directory kept) and wait until it accepts AMQP; returns seconds."""
        started = time.monotonic()
        self.launch()
        self.wait_started(timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def launch(self) -> None:
        """Start the server process without waiting (``wait_started`` waits)."""
        if self.is_running():
            raise NodeError(
                f"{self.name} is already running (pid {self.pid}); stop or kill it first"
            )
        _unlink(self.pid_file)
        with open(self.stdout_file, "ab") as output:
            self._server = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=str(self.dir),
                # Its own session: a Ctrl-C in pytest must not kill the node half-way.
                start_new_session=True,
            )
        if self not in _LAUNCHED:
            _LAUNCHED.append(self)

    def wait_started(self, timeout: float = 120.0) -> None:
        """Wait for the AMQP listener and management API, then confirm with await_startup."""
        deadline = time.monotonic() + timeout
        while not (_port_open(self.amqp_port) and self.api.ready()):
            if self._server is not None and self._server.poll() is not None:
                raise NodeError(
                    f"{self.name} exited with {self._server.returncode} while starting; "
                    f"its output:\n{_tail(self.stdout_file)}\nlog: {self.log_file}"
                )
            if time.monotonic() > deadline:
                raise NodeError(
                    f"{self.name} did not start within {timeout:.0f} s; "
                    f"output:\n{_tail(self.stdout_file)}\nlog: {self.log_file}"
                )
            time.sleep(0.25)
        self.ctl("await_startup", "--timeout", str(max(5, int(deadline - time.monotonic()))))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node gracefully (rabbitmqctl stop), SIGKILL if it does not go in time."""
        pid = self.pid
        if pid is None or not pid_alive(pid):
            self._reap()
            return
        try:
            self.ctl("stop", str(self.pid_file), timeout=timeout)
        except (NodeError, subprocess.TimeoutExpired):
            pass
        if not _wait_gone(pid, 10.0):
            self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the Erlang VM at once (a crash: no goodbye to clients or cluster peers)."""
        pid = self.pid
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0):
                raise NodeError(f"{self.name} (pid {pid}) survived SIGKILL for 10 s")
        self._reap()

    def restart(self, timeout: float = 120.0) -> float:
        """Stop (if running) and start again with the same data; returns the start's seconds."""
        self.stop()
        return self.start(timeout)

    def _reap(self) -> None:
        if self._server is not None:
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait(timeout=5)
            self._server = None

    # --- rabbitmqctl -------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 60.0, tool: str = "rabbitmqctl") -> str:
        """Run ``rabbitmqctl -n <this node> ARGS`` (1-2 s a call); raise NodeError on failure."""
        command = [str(RABBITMQ_BIN / tool), "-n", self.name, *args]
        result = subprocess.run(
            command,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise NodeError(
                f"{' '.join(command[1:])} exited {result.returncode}: "
                f"{result.stdout.strip()} {result.stderr.strip()}"
            )
        return result.stdout

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (clients get 320 CONNECTION_FORCED); the VM stays."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        """Start the application again; AMQP is accepted when this returns."""
        self.ctl("start_app")

    def eval(self, expression: str) -> str:
        """Evaluate an Erlang expression on the node (``rabbitmqctl eval``)."""
        return self.ctl("eval", expression).strip()

    def set_memory_watermark(self, fraction: float) -> None:
        """Set vm_memory_high_watermark; a tiny value raises the memory alarm (publishers block)."""
        self.ctl("set_vm_memory_high_watermark", repr(fraction))
        self.watermark_changed = fraction != DEFAULT_WATERMARK

    def block_publishers(self) -> None:
        """Raise the memory alarm: the broker sends connection.blocked and stops reading publishes."""
        self.ctl("set_vm_memory_high_watermark", "absolute", "1")
        self.watermark_changed = True

    def unblock_publishers(self) -> None:
        """Restore the default watermark (0.4): the alarm clears, connection.unblocked follows."""
        self.set_memory_watermark(DEFAULT_WATERMARK)

    def ensure_ready(self) -> None:
        """Bring the node back to a usable state after a test: VM up, app up, alarm cleared."""
        if not self.is_running():
            self._reap()
            self.start()
            self.watermark_changed = False
        elif not _port_open(self.amqp_port):
            self.start_app()
            self.wait_started()
        if self.watermark_changed:
            self.unblock_publishers()

    # --- connections -------------------------------------------------------------------------

    def connections(self) -> list[JsonObject]:
        """Connections listed by the management API (it lags about 0.5 s behind the broker)."""
        return self.api.connections()

    def wait_connections(self, count: int = 1, timeout: float = 30.0) -> list[JsonObject]:
        """Poll the management API until ``count`` client connections are listed."""
        return self.api.wait_connections(count, timeout=timeout)

    def close_connections(
        self,
        reason: str = "closed-by-test",
        connection_name: str | None = None,
        wait: bool = True,
        timeout: float = 30.0,
    ) -> int:
        """Force-close client connections through the HTTP API (10 ms each); returns how many.

        ``connection_name`` limits it to clients that set that ``connection_name`` client
        property. With ``wait``, poll until at least one is listed (new ones lag ~0.5 s).
        """

        def matches(connection: JsonObject) -> bool:
            if connection_name is None:
                return True
            return connection.get("user_provided_name") == connection_name

        if wait:
            found = self.api.wait_connections(1, matches, timeout)
        else:
            found = [c for c in self.api.connections() if matches(c)]
        for connection in found:
            self.api.close_connection(connection["name"], reason)
        return len(found)

    def close_connections_ctl(self, reason: str = "closed-by-test") -> int:
        """Force-close every client connection through rabbitmqctl (about 2 s); returns how many.

        The broker-side path differs from the HTTP one only in who asks; use it where a test
        must show that ``rabbitmqctl close_connection`` works as the issue describes.
        """
        pids = [
            line.strip()
            for line in self.ctl("list_connections", "pid", "-q", "--no-table-headers").splitlines()
        ]
        pids = [pid for pid in pids if pid.startswith("<")]
        for pid in pids:
            self.ctl("close_connection", pid, reason)
        return len(pids)

    # --- queues ------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete every queue and non-built-in exchange on ``/``, so the next test starts clean."""
        self.api.wipe()

    def queue_depth(self, name: str) -> int:
        """Ready plus unacknowledged messages of a queue, counted by the broker now.

        Uses rabbitmqctl, which is exact; the HTTP API's counts lag by the stats interval.
        """
        for line in self.ctl(
            "list_queues", "name", "messages", "-q", "--no-table-headers"
        ).splitlines():
            parts = line.rsplit("\t", 1)
            if len(parts) == 2 and parts[0] == name:
                return int(parts[1])
        raise NodeError(f"no queue {name!r} on {self.name}")

    def consumer_count(self, name: str) -> int:
        """How many consumers a queue has now (rabbitmqctl, exact)."""
        for line in self.ctl(
            "list_queues", "name", "consumers", "-q", "--no-table-headers"
        ).splitlines():
            parts = line.rsplit("\t", 1)
            if len(parts) == 2 and parts[0] == name:
                return int(parts[1])
        raise NodeError(f"no queue {name!r} on {self.name}")

    # --- the log -----------------------------------------------------------------------------

    def log_offset(self) -> int:
        """The log's size now: pass it to ``log_since`` to read only what a test caused."""
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int = 0) -> str:
        """The node's log from ``offset`` (bytes) to its end."""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_lines_matching(self, needle: str, offset: int = 0) -> list[str]:
        """Log lines since ``offset`` that contain ``needle`` (case-insensitive)."""
        lowered = needle.lower()
        return [line for line in self.log_since(offset).splitlines() if lowered in line.lower()]


def start_nodes(nodes: Sequence[BrokerNode], timeout: float = 180.0) -> dict[str, float]:
    """Boot several nodes in parallel; returns each node's start time in seconds."""
    started = time.monotonic()
    for node in nodes:
        node.launch()
    times: dict[str, float] = {}
    for node in nodes:
        node.wait_started(timeout - (time.monotonic() - started))
        times[node.name] = time.monotonic() - started
    return times


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"
