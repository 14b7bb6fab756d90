"""pika-core's BlockingConnection: the reference row that the other rows are compared with."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-core-blocking", "pika-core BlockingConnection", 10, "pika-core")


def driver() -> Any:
    import pika_core
    from bench.drivers.pika_blocking_api import BlockingDriver

    return BlockingDriver(pika_core)
