"""pika-streamdal: message pipelines, tail, metrics and tracing inside pika-core, on its hooks.

This package is the plugin pika-core loads from the ``pika_core`` entry-point group. Importing it
is cheap: the lifecycle hooks and the CLI hook are here, everything else is imported on first
use (``pika_streamdal.Engine`` and friends), and nothing optional is imported at all until a
feature that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from pika_streamdal.cli import pika_add_cli_commands
from pika_streamdal.context import (
    DROP,
    FAIL,
    OPERATION_TYPE_CONSUMER,
    OPERATION_TYPE_PRODUCER,
    PASS,
    Audience,
    InterceptOptions,
    InterceptorError,
    MessageContext,
    MessageDropped,
    Verdict,
)
from pika_streamdal.interceptors import Interceptor

# Registers interceptors=, enable_streamdal=, ... on pika_core's parameter classes and
# intercept=/streamdal_cfg= on the channels' calls: loading the entry point is enough.
from pika_streamdal.parameters import ConnectionParameters
from pika_streamdal.plugin import (
    activate,
    add_interceptor,
    call_options,
    interceptors_of,
    pika_channel_closed,
    pika_channel_opened,
    pika_connection_closed,
    pika_connection_created,
    pika_connection_opened,
    set_consumer,
)

__version__ = "0.1.0"

# Imported on first use: name -> module.
_LAZY = {
    "AudiencePattern": "pika_streamdal.audiences",
    "Cond": "pika_streamdal.pipeline",
    "Dropped": "pika_streamdal.events",
    "Engine": "pika_streamdal.engine",
    "Failed": "pika_streamdal.events",
    "LoggingTailSink": "pika_streamdal.tail",
    "Pipeline": "pika_streamdal.pipeline",
    "PipelineInterceptor": "pika_streamdal.engine",
    "PipelineResult": "pika_streamdal.pipeline",
    "RuleMatched": "pika_streamdal.events",
    "SchemaChanged": "pika_streamdal.events",
    "Step": "pika_streamdal.pipeline",
    "StreamdalInterceptor": "pika_streamdal.bridge",
    "StreamdalRuntimeConfig": "pika_streamdal.bridge",
    "TailEvent": "pika_streamdal.tail",
    "TailSubscription": "pika_streamdal.tail",
    "TracingInterceptor": "pika_streamdal.tracing",
}

__all__ = [
    "DROP",
    "FAIL",
    "OPERATION_TYPE_CONSUMER",
    "OPERATION_TYPE_PRODUCER",
    "PASS",
    "Audience",
    "AudiencePattern",
    "Cond",
    "ConnectionParameters",
    "Dropped",
    "Engine",
    "Failed",
    "InterceptOptions",
    "Interceptor",
    "InterceptorError",
    "LoggingTailSink",
    "MessageContext",
    "MessageDropped",
    "Pipeline",
    "PipelineInterceptor",
    "PipelineResult",
    "RuleMatched",
    "SchemaChanged",
    "Step",
    "StreamdalInterceptor",
    "StreamdalRuntimeConfig",
    "TailEvent",
    "TailSubscription",
    "TracingInterceptor",
    "Verdict",
    "__version__",
    "activate",
    "add_interceptor",
    "call_options",
    "interceptors_of",
    "pika_add_cli_commands",
    "pika_channel_closed",
    "pika_channel_opened",
    "pika_connection_closed",
    "pika_connection_created",
    "pika_connection_opened",
    "set_consumer",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pika_streamdal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
