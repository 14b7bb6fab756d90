"""AsyncioConnection: pika's callback API on an asyncio event loop (any loop, any platform)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from pika_core.adapters.base_connection import BaseConnection
from pika_core.adapters.utils import connection_workflow
from pika_core.adapters.utils.asyncio_io_services import AsyncioIOServicesAdapter
from pika_core.adapters.utils.nbio_interface import AbstractIOServices
from pika_core.parameters import Parameters

__all__ = ["AsyncioConnection"]


class AsyncioConnection(BaseConnection):
    """pika's AsyncioConnection; ``custom_ioloop`` is an asyncio loop (default: the current)."""

    def __init__(
        self,
        parameters: Parameters | None = None,
        on_open_callback: Callable[[Any], Any] | None = None,
        on_open_error_callback: Callable[[Any, BaseException], Any] | None = None,
        on_close_callback: Callable[[Any, BaseException], Any] | None = None,
        custom_ioloop: asyncio.AbstractEventLoop | AbstractIOServices | None = None,
        internal_connection_workflow: bool = True,
    ) -> None:
        if isinstance(custom_ioloop, AbstractIOServices):
            nbio: AbstractIOServices = custom_ioloop
        else:
            nbio = AsyncioIOServicesAdapter(custom_ioloop)
        super().__init__(
            parameters,
            on_open_callback,
            on_open_error_callback,
            on_close_callback,
            nbio,
            internal_connection_workflow,
        )

    @classmethod
    def create_connection(
        cls,
        connection_configs: Any,
        on_done: Callable[[Any], Any],
        custom_ioloop: asyncio.AbstractEventLoop | None = None,
        workflow: connection_workflow.AbstractAMQPConnectionWorkflow | None = None,
    ) -> connection_workflow.AbstractAMQPConnectionWorkflow:
        """Connect through the first config that works; ``on_done(connection | exception)``."""
        nbio = AsyncioIOServicesAdapter(custom_ioloop)

        def connection_factory(params: Parameters) -> AsyncioConnection:
            if params is None:
                raise ValueError(
                    "Expected pika.connection.Parameters instance, but got None in params arg."
                )
            return cls(parameters=params, custom_ioloop=nbio, internal_connection_workflow=False)

        return cls._start_connection_workflow(
            connection_configs=connection_configs,
            connection_factory=connection_factory,
            nbio=nbio,
            workflow=workflow,
            on_done=on_done,
        )
