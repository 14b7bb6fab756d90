"""Plugin lifecycle hooks across an automatic recovery: pika_connection_opened fires again.

The hookspec promises it once per open and again when a recovery has made the connection
usable, before the application's on_recovered callbacks; pika_connection_closed only when the
connection ends for good.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

import pika_core as pika
from pika_core import plugins
from pika_core.hookspecs import hookimpl

from .recovery_helpers import RECOVERY_QUERY, run_select, with_query
from .support import BrokerNode, FaultProxy


class Lifecycle:
    """An in-process plugin recording the connection hooks (and what the test adds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def pika_connection_opened(self, connection: Any) -> None:
        self.calls.append(("opened", connection))
        # By now the connection is usable again: open, not recovering.
        self.calls.append(("usable", connection.is_open and not connection.is_recovering))

    @hookimpl
    def pika_connection_closed(self, connection: Any, exception: BaseException) -> None:
        self.calls.append(("closed", type(exception).__name__))


def expected_calls(connection: Any) -> list[tuple[str, Any]]:
    """Open, recovered (the hook before the application's callback), closed once."""
    return [
        ("opened", connection),
        ("usable", True),
        ("opened", connection),
        ("usable", True),
        ("recovered", connection),
        ("closed", "ConnectionClosedByClient"),
    ]


@pytest.fixture
def lifecycle() -> Iterator[Lifecycle]:
    plugin = Lifecycle()
    name = plugins.register(plugin, "test-recovery-lifecycle")
    yield plugin
    plugins.unregister(name=name)


def test_blocking_recovery_fires_connection_opened_again(
    own_node: BrokerNode, fault_proxy: FaultProxy, lifecycle: Lifecycle
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.add_on_recovered_callback(lambda c, *_: lifecycle.calls.append(("recovered", c)))
    channel = connection.channel()
    channel.queue_declare("hooks-blocking")
    assert lifecycle.calls == [("opened", connection), ("usable", True)]

    fault_proxy.reset_all()
    deadline = time.monotonic() + 60
    while ("recovered", connection) not in lifecycle.calls:
        assert time.monotonic() < deadline, f"no recovery in 60 s: {lifecycle.calls}"
        connection.process_data_events(0.5)
    # The restored channel works on the new protocol connection.
    channel.basic_publish("", "hooks-blocking", b"after")
    # (basic.get reaches the queue after the publish; a passive declare's count may not.)
    assert channel.basic_get("hooks-blocking", auto_ack=True)[2] == b"after"
    connection.close()

    assert lifecycle.calls == expected_calls(connection)


def test_select_recovery_fires_connection_opened_again(
    own_node: BrokerNode, fault_proxy: FaultProxy, lifecycle: Lifecycle
) -> None:
    url = with_query(fault_proxy.url(own_node.url()), RECOVERY_QUERY)

    def on_recovered(connection: Any, *_: Any) -> None:
        lifecycle.calls.append(("recovered", connection))
        connection.close()

    def on_channel(channel: Any) -> None:
        channel.connection.add_on_recovered_callback(on_recovered)
        fault_proxy.reset_all()

    connection = run_select(url, lambda c: c.channel(on_open_callback=on_channel), 60.0)
    assert lifecycle.calls == expected_calls(connection)
