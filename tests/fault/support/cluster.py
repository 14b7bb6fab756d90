"""A three-node RabbitMQ cluster on this machine, for failover tests with quorum queues.

The nodes boot in parallel, then each one after the first is reset and joined to it (the
recipe of rabbitmq-on-one-machine.md, about a minute in all). A node killed by a test keeps its
data directory, so ``ensure_ready`` restarts it and it rejoins by itself.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .management import JsonObject
from .nodes import BrokerNode, NodeError, start_nodes
from .workspace import Workspace

__all__ = ["Cluster"]


class Cluster:
    """``size`` BrokerNodes joined into one cluster; ``nodes[0]`` is the seed."""

    def __init__(
        self,
        workspace: Workspace,
        size: int = 3,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        letters = "abcdefgh"
        self.nodes: list[BrokerNode] = [
            BrokerNode(workspace, f"{workspace.tag}_c{letters[i]}", extra_config)
            for i in range(size)
        ]
        self.timings: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<Cluster {', '.join(n.name for n in self.nodes)}>"

    # --- addresses ---------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """(host, port) of every node, seed first: give the client all of them."""
        return [node.address for node in self.nodes]

    def urls(self, query: str = "") -> list[str]:
        """One AMQP URL per node (pika's multi-endpoint form is a list of parameters)."""
        return [node.url(query) for node in self.nodes]

    def node(self, name: str) -> BrokerNode:
        """The node called ``name`` (``short@localhost`` or the short name)."""
        for node in self.nodes:
            if name in (node.name, node.short_name):
                return node
        raise KeyError(f"no node {name!r} in {self!r}")

    def node_on_port(self, port: int) -> BrokerNode:
        """The node whose AMQP port is ``port`` (find the one a client is connected to)."""
        for node in self.nodes:
            if node.amqp_port == port:
                return node
        raise KeyError(f"no node of {self!r} listens on {port}")

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 300.0) -> dict[str, float]:
        """Boot every node, join them to the seed, wait until all run; returns the timings."""
        started = time.monotonic()
        boot = start_nodes(self.nodes, timeout)
        self.timings["boot"] = time.monotonic() - started
        seed = self.nodes[0]
        for node in self.nodes[1:]:
            joined = time.monotonic()
            node.stop_app()
            node.ctl("reset")
            node.ctl("join_cluster", seed.name)
            node.start_app()
            self.timings[f"join {node.short_name}"] = time.monotonic() - joined
        self.wait_running(len(self.nodes), timeout=max(30.0, timeout - self.timings["boot"]))
        self.timings["total"] = time.monotonic() - started
        self.timings.update({f"boot {name}": seconds for name, seconds in boot.items()})
        return dict(self.timings)

    def stop(self) -> None:
        """SIGKILL every node (the data is thrown away with the run directory)."""
        for node in self.nodes:
            node.kill()

    def ensure_ready(self, timeout: float = 180.0) -> None:
        """Restart killed nodes, restart stopped apps, and wait until every node runs again."""
        dead = [node for node in self.nodes if not node.is_running()]
        if dead:
            start_nodes(dead, timeout)
        for node in self.nodes:
            node.ensure_ready()
        self.wait_running(len(self.nodes), timeout)

    # --- status --------------------------------------------------------------------------------

    def _any_running(self) -> BrokerNode:
        for node in self.nodes:
            if node.is_running():
                return node
        raise NodeError(f"no node of {self!r} is running")

    def cluster_status(self, via: BrokerNode | None = None) -> dict[str, Any]:
        """``rabbitmqctl cluster_status`` as a dict (``running_nodes``, ``disk_nodes``, ...)."""
        node = via or self._any_running()
        result: dict[str, Any] = json.loads(node.ctl("cluster_status", "--formatter", "json"))
        return result

    def running_nodes(self, via: BrokerNode | None = None) -> list[str]:
        """Names of the nodes the cluster reports as running."""
        return sorted(self.cluster_status(via).get("running_nodes", []))

    def wait_running(self, count: int, timeout: float = 120.0) -> list[str]:
        """Poll cluster_status until ``count`` nodes run; returns their names."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = self.running_nodes()
            except NodeError:
                running = []
            if len(running) >= count:
                return running
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(running)} of {count} nodes running after {timeout} s")
            time.sleep(1.0)

    # --- quorum queues -------------------------------------------------------------------------

    def declare_quorum_queue(
        self, name: str, replicas: int = 3, leader: BrokerNode | None = None
    ) -> None:
        """Declare a durable quorum queue; its leader starts on ``leader`` (the declaring node)."""
        node = leader or self.nodes[0]
        node.api.declare_queue(
            name, {"x-queue-type": "quorum", "x-quorum-initial-group-size": replicas}
        )

    def quorum_queue(self, name: str, timeout: float = 30.0) -> JsonObject:
        """The queue as the HTTP API describes it, once it lists a leader and its members."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes:
                if not node.is_running():
                    continue
                try:
                    info = node.api.queue(name)
                except (OSError, RuntimeError):
                    continue
                if info.get("leader") and info.get("members"):
                    return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"quorum queue {name!r} lists no leader after {timeout} s")
            time.sleep(0.5)

    def leader_of(self, queue: str) -> BrokerNode:
        """The node that leads the quorum queue ``queue`` now."""
        return self.node(str(self.quorum_queue(queue)["leader"]))

    def wipe(self) -> None:
        """Delete every queue and test exchange (through one running node)."""
        self._any_running().wipe()
