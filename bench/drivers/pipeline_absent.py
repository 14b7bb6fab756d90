"""Message pipelines, pika-streamdal's entry point not loaded (PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD=1): the reference row."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client, pipelines_api

CLIENT = Client("pipe-absent", "plugin absent", 40, "pipeline")

ENV = pipelines_api.ABSENT_ENV
UNSUPPORTED = pipelines_api.UNSUPPORTED
probe = pipelines_api.probe


def driver() -> Any:
    from bench.drivers.pipelines_api import PipelineDriver

    return PipelineDriver("absent")
