"""Message pipelines, pika-streamdal loaded (PIKA_CORE_PLUGINS=streamdal), nothing configured."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client, pipelines_api

CLIENT = Client("pipe-installed", "installed, unconfigured", 41, "pipeline")

ENV = pipelines_api.INSTALLED_ENV
UNSUPPORTED = pipelines_api.UNSUPPORTED
probe = pipelines_api.probe


def driver() -> Any:
    from bench.drivers.pipelines_api import PipelineDriver

    return PipelineDriver("installed")
