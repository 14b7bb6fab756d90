"""Message pipelines, pika-streamdal with a pipeline that detects PII and masks it, on publish and delivery."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client, pipelines_api

CLIENT = Client("pipe-pii-mask", "PII-masking pipeline", 43, "pipeline")

ENV = pipelines_api.INSTALLED_ENV
UNSUPPORTED = pipelines_api.UNSUPPORTED
probe = pipelines_api.probe


def driver() -> Any:
    from bench.drivers.pipelines_api import PipelineDriver

    return PipelineDriver("pii-mask")
