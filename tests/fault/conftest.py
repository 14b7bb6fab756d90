"""Fixtures of the fault tests: broker nodes of their own, a cluster, and the fault proxy.

Every test under tests/fault is marked ``fault``; the cluster tests also carry ``cluster``. They
are destructive and slow, so a plain ``pytest`` skips them. They run when selected:

- ``PIKA_CORE_FAULT_TESTS=1`` (the ``tests_fault`` nox session), ``-m fault``, or a path under
  tests/fault on the command line, for the fault tests;
- ``PIKA_CORE_CLUSTER_TESTS=1`` (the ``tests_cluster`` nox session) or ``-m cluster`` for the
  cluster tests (about a minute to start three nodes).

Once selected, a test never skips for a missing RabbitMQ: it fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from .support import (
    BrokerNode,
    Cluster,
    FaultProxy,
    Workspace,
    kill_launched_nodes,
    kill_leftover_nodes,
)
from .support.nodes import RABBITMQ_BIN

FAULT_DIR = Path(__file__).resolve().parent

INSTALL_HINT = (
    "the fault tests start RabbitMQ nodes of their own from "
    f"{RABBITMQ_BIN}/rabbitmq-server (Debian's rabbitmq-server package; "
    "./scripts/ensure_broker.sh installs it, PIKA_CORE_RABBITMQ_BIN points elsewhere)"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers (the repository runs pytest with --strict-markers)."""
    config.addinivalue_line(
        "markers", "fault: destructive fault-injection test with broker nodes of its own"
    )
    config.addinivalue_line(
        "markers", "cluster: needs the three-node RabbitMQ cluster (slow; own CI stage)"
    )


def _env_on(name: str) -> bool:
    return os.environ.get(name, "").lower() not in ("", "0", "false", "no", "off")


def _selected(config: pytest.Config) -> tuple[bool, bool]:
    """(fault tests selected, cluster tests selected) for this invocation."""
    markexpr = str(config.getoption("markexpr", "") or "")
    by_path = False
    for arg in config.invocation_params.args:
        candidate = Path(str(arg).split("::", 1)[0])
        if not candidate.is_absolute():
            candidate = Path(config.invocation_params.dir) / candidate
        try:
            candidate.resolve().relative_to(FAULT_DIR)
        except ValueError:
            continue
        by_path = True
    cluster = _env_on("PIKA_CORE_CLUSTER_TESTS") or "cluster" in markexpr
    fault = cluster or _env_on("PIKA_CORE_FAULT_TESTS") or "fault" in markexpr or by_path
    return fault, cluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here ``fault``; skip the unselected ones with how to select them."""
    fault, cluster = _selected(config)
    for item in items:
        if FAULT_DIR not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.fault)
        if item.get_closest_marker("cluster") is not None:
            if not cluster:
                item.add_marker(
                    pytest.mark.skip(
                        reason="cluster test: run `nox -s tests_cluster`, or set "
                        "PIKA_CORE_CLUSTER_TESTS=1, or pass -m cluster"
                    )
                )
        elif not fault:
            item.add_marker(
                pytest.mark.skip(
                    reason="fault test: run `nox -s tests_fault`, or set PIKA_CORE_FAULT_TESTS=1, "
                    "or name tests/fault on the command line"
                )
            )


def _require_rabbitmq() -> None:
    if not (RABBITMQ_BIN / "rabbitmq-server").exists() or shutil.which("erl") is None:
        pytest.fail(f"no RabbitMQ server to start: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def fault_workspace() -> Iterator[Workspace]:
    """This run's directory for nodes; leftovers of crashed runs are killed first."""
    _require_rabbitmq()
    kill_leftover_nodes()
    workspace = Workspace()
    yield workspace
    kill_launched_nodes()
    workspace.remove()


@pytest.fixture(scope="session")
def own_node_session(fault_workspace: Workspace) -> Iterator[BrokerNode]:
    """One node for the whole session (started on first use, about 20 s)."""
    node = BrokerNode(fault_workspace, f"{fault_workspace.tag}_own")
    node.start()
    yield node
    node.kill()


@pytest.fixture
def own_node(own_node_session: BrokerNode) -> BrokerNode:
    """The session's own node, running, with no alarm, no queues and no test exchanges.

    A test may stop, kill or block it: the next test gets it back up (a restart costs ~8 s).
    """
    own_node_session.ensure_ready()
    own_node_session.wipe()
    return own_node_session


@pytest.fixture
def fault_proxy(own_node: BrokerNode) -> Iterator[FaultProxy]:
    """A FaultProxy in front of ``own_node``; connect with ``fault_proxy.url(own_node.url())``."""
    with FaultProxy(own_node.address) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def cluster_session(fault_workspace: Workspace) -> Iterator[Cluster]:
    """Three nodes joined into one cluster (about a minute to start, once per session)."""
    cluster = Cluster(fault_workspace, 3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(cluster_session: Cluster) -> Cluster:
    """The session's cluster with every node running again and no queues left by other tests."""
    cluster_session.ensure_ready()
    cluster_session.wipe()
    return cluster_session
