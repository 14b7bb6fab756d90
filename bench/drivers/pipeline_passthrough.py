"""Message pipelines, pika-streamdal with one interceptor that passes every message unchanged."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client, pipelines_api

CLIENT = Client("pipe-passthrough", "one pass-through interceptor", 42, "pipeline")

ENV = pipelines_api.INSTALLED_ENV
UNSUPPORTED = pipelines_api.UNSUPPORTED
probe = pipelines_api.probe


def driver() -> Any:
    from bench.drivers.pipelines_api import PipelineDriver

    return PipelineDriver("passthrough")
