"""Test infrastructure for the fault tests: a fault-injecting proxy and broker nodes of our own."""

from __future__ import annotations

from .cluster import Cluster
from .management import ManagementApi, ManagementError
from .nodes import BrokerNode, NodeError, kill_launched_nodes, start_nodes
from .proxy import Direction, FaultProxy, ProxiedConnection
from .workspace import Workspace, kill_leftover_nodes

__all__ = [
    "BrokerNode",
    "Cluster",
    "Direction",
    "FaultProxy",
    "ManagementApi",
    "ManagementError",
    "NodeError",
    "ProxiedConnection",
    "Workspace",
    "kill_launched_nodes",
    "kill_leftover_nodes",
    "start_nodes",
]
