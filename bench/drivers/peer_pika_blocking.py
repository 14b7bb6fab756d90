"""pika's BlockingConnection (the peer pika-core's blocking adapter replaces)."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-blocking", "pika BlockingConnection", 20, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.pika_blocking_api import BlockingDriver

    return BlockingDriver(pika)
