"""pika's TwistedProtocolConnection."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-twisted", "pika TwistedProtocolConnection", 28, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.twisted_api import TwistedDriver

    return TwistedDriver(pika)
