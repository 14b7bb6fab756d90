"""The bridge driving the real streamdal SDK with its server down, against the broker.

Runs only in ``nox -s tests_streamdal_sdk`` (PIKA_STREAMDAL_REAL_SDK=1), which installs the SDK with
the recipe of docs/streamdal.md; there a missing SDK is a failure, not a skip.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from typing import Any, Iterator

import pika_streamdal
import pytest
from pika_streamdal.bridge import StreamdalInterceptor

from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.parameters import ConnectionParameters
from pika_core.plugins import PikaPluginManager

pytestmark = pytest.mark.skipif(
    os.environ.get("PIKA_STREAMDAL_REAL_SDK") != "1",
    reason="needs the real streamdal SDK: run nox -s tests_streamdal_sdk",
)

_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP")
    if hasattr(signal, name)
)


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def streamdal(pika_plugin_manager: PikaPluginManager) -> PikaPluginManager:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    return pika_plugin_manager


@pytest.fixture
def server_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("STREAMDAL_URL", url)
    monkeypatch.setenv("STREAMDAL_TOKEN", "pika-core-test")
    monkeypatch.setenv("STREAMDAL_SERVICE_NAME", "pika-core-tests")
    yield url


def test_the_real_sdk_is_installed() -> None:
    import streamdal

    assert hasattr(streamdal, "StreamdalClient") and hasattr(streamdal, "ProcessRequest")


def test_server_down_passes_through_and_leaves_no_thread_or_handler(
    streamdal: Any, server_down: str
) -> None:
    import streamdal as sdk  # a missing SDK fails here

    handlers = {number: signal.getsignal(number) for number in _SIGNALS}
    threads_before = set(threading.enumerate())
    connection = BlockingConnection(ConnectionParameters("127.0.0.1", enable_streamdal=True))
    try:
        channel = connection.channel()
        bridges = [
            interceptor
            for state in pika_streamdal.plugin._connections.values()
            for interceptor in state.chain.interceptors
            if isinstance(interceptor, StreamdalInterceptor)
        ]
        assert len(bridges) == 1 and bridges[0].url == server_down
        assert bridges[0].passing_through, "no Streamdal server listens, so no client is built"
        assert bridges[0]._sdk is sdk, "the bridge went through the real SDK"
        queue = f"pika-core.sdk.{uuid.uuid4().hex}"
        channel.queue_declare(queue, auto_delete=True)
        body = b'{"email":"someone@example.com","card":"4111 1111 1111 1111"}'
        channel.basic_publish("", queue, body)
        delivered = None
        for method, _properties, received in channel.consume(queue, inactivity_timeout=5):
            assert method is not None, "the message never arrived"
            channel.basic_ack(method.delivery_tag)
            delivered = received
            break
        channel.cancel()
        assert delivered == body
    finally:
        connection.close()
    leaked = [
        thread.name
        for thread in threading.enumerate()
        if thread not in threads_before and not thread.daemon and thread.is_alive()
    ]
    assert leaked == []
    assert {number: signal.getsignal(number) for number in _SIGNALS} == handlers
