"""The bridge to the Streamdal SDK (``streamdal`` 0.1.18, unmaintained upstream), extra ``[streamdal]``.

``StreamdalInterceptor`` sends each body through ``client.process()`` and maps the answer to a
verdict. The SDK is imported only when a client is built here; its side effects are contained:
signal handlers are restored, its threads are told to exit on close, and when the server cannot
be reached the interceptor passes messages through and retries in the background.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pika_streamdal.context import (
    DROP,
    FAIL,
    OPERATION_TYPE_CONSUMER,
    OPERATION_TYPE_PRODUCER,
    PASS,
    Audience,
    MessageContext,
    Verdict,
)
from pika_streamdal.interceptors import Interceptor
from pika_streamdal.parameters import STREAMDAL_INSTALL

__all__ = [
    "OPERATION_TYPE_CONSUMER",
    "OPERATION_TYPE_PRODUCER",
    "Audience",
    "StreamdalInterceptor",
    "StreamdalRuntimeConfig",
    "sanitize",
]

logger = logging.getLogger("pika_streamdal.bridge")

_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP")
    if hasattr(signal, name)
)
_STATUS_NAMES = {0: "UNSET", 1: "TRUE", 2: "FALSE", 3: "ERROR"}
_ABORT_NAMES = {0: "UNSET", 1: "ABORT_CURRENT", 2: "ABORT_ALL"}


@dataclass(frozen=True)
class StreamdalRuntimeConfig:
    """The fork's per-call configuration: ``basic_publish(..., streamdal_cfg=...)``."""

    audience: Audience | None = None
    strict_errors: bool = False


def sanitize(name: str) -> str:
    """An audience name component the SDK can key on: its key is dot-joined, so no dots."""
    return name.replace(".", "_")


def _status_name(status: Any, table: dict[int, str]) -> str:
    name = getattr(status, "name", None)
    if isinstance(name, str):
        text = name
    elif isinstance(status, int):
        text = table.get(status, str(status))
    else:
        text = str(status)
    text = text.upper()
    for prefix in ("EXEC_STATUS_", "ABORT_CONDITION_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


class StreamdalInterceptor(Interceptor):
    """Runs Streamdal pipelines through the SDK; falls back to pass-through without a server."""

    def __init__(
        self,
        client: Any = None,
        *,
        url: str | None = None,
        token: str | None = None,
        service_name: str | None = None,
        ignore_startup_error: bool = True,
        audiences: Sequence[Audience] = (),
        strict_errors: bool = False,
        drop_on_abort_false: bool = False,
        client_factory: Callable[[], Any] | None = None,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.url = url or os.environ.get("STREAMDAL_ADDRESS") or os.environ.get("STREAMDAL_URL")
        self.token = (
            token or os.environ.get("STREAMDAL_TOKEN") or os.environ.get("STREAMDAL_AUTH_TOKEN")
        )
        self.service_name = service_name or os.environ.get("STREAMDAL_SERVICE_NAME")
        self.ignore_startup_error = ignore_startup_error
        self.audiences = tuple(audiences)
        self.strict_errors = strict_errors
        self.drop_on_abort_false = drop_on_abort_false
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.shutdown_timeout = shutdown_timeout
        self._factory = client_factory
        self._closed = threading.Event()
        self._retry: threading.Thread | None = None
        self._server_back = threading.Event()
        self._sdk: Any = None
        self._partial: Any = None
        self.client: Any = client
        if client is None:
            self._start()

    # -- construction ---------------------------------------------------------------------------

    def _start(self) -> None:
        factory = self._factory or self._sdk_client
        before = set(threading.enumerate())
        try:
            self.client = _contained(factory)
        except (ConnectionRefusedError, OSError) as exc:
            self._abandon_partial(before)
            if not self.ignore_startup_error:
                raise
            logger.warning(
                "the Streamdal server at %s is unreachable (%r); messages pass through until "
                "it is, and the client is retried in the background",
                self.url,
                exc,
            )
            self.client = None
            self._retry = threading.Thread(
                target=self._retry_loop, name="pika-streamdal-retry", daemon=True
            )
            self._retry.start()

    def _sdk_client(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "the streamdal SDK installs signal handlers, so its client must be built in the "
                "main thread; create the connection (or the StreamdalInterceptor) there"
            )
        missing = [
            name
            for name, value in (
                ("STREAMDAL_ADDRESS or STREAMDAL_URL", self.url),
                ("STREAMDAL_TOKEN or STREAMDAL_AUTH_TOKEN", self.token),
                ("STREAMDAL_SERVICE_NAME", self.service_name),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                "the Streamdal bridge needs " + ", ".join(missing) + " (or the matching "
                "StreamdalInterceptor arguments)"
            )
        sdk = _import_sdk()
        self._sdk = sdk
        config = sdk.StreamdalConfig(
            service_name=self.service_name,
            streamdal_url=self.url,
            streamdal_token=self.token,
            audiences=[self._sdk_audience(a) for a in self.audiences],
        )
        # Built in two steps so that a constructor that fails half-way (server down) leaves us
        # the object, whose exit event stops the threads it already started.
        client = sdk.StreamdalClient.__new__(sdk.StreamdalClient)
        self._partial = client
        client.__init__(cfg=config)
        self._partial = None
        return client

    def _abandon_partial(self, before: Any) -> None:
        """After a failed construction: tell its threads to exit and wait for them (bounded)."""
        partial, self._partial = self._partial, None
        if partial is not None:
            exit_event = getattr(partial, "exit", None)
            if exit_event is not None and hasattr(exit_event, "set"):
                exit_event.set()
        for thread in threading.enumerate():
            if thread not in before and not thread.daemon:
                thread.join(timeout=self.shutdown_timeout)
                if thread.is_alive():
                    logger.warning(
                        "the streamdal SDK left thread %r running after a failed start",
                        thread.name,
                    )

    def _retry_loop(self) -> None:
        """Back off and retry; the real SDK is rebuilt in the main thread once the server answers."""
        delay = self.retry_initial
        while not self._closed.wait(delay):
            delay = min(delay * 2, self.retry_max)
            if self._factory is None:
                if _reachable(self.url):
                    self._server_back.set()  # the next message on the main thread rebuilds
                    return
                continue
            try:
                client = _contained(self._factory)
            except (ConnectionRefusedError, OSError) as exc:
                logger.debug("Streamdal server still unreachable: %r", exc)
                continue
            except Exception:
                logger.exception("building the Streamdal client failed; pass-through continues")
                return
            if self._closed.is_set():
                _shutdown(client, self.shutdown_timeout)
                return
            self.client = client
            logger.info("connected to the Streamdal server")
            return

    def _rebuild(self) -> None:
        self._server_back.clear()
        try:
            self._start()
        except Exception:
            logger.exception("rebuilding the Streamdal client failed; pass-through continues")

    def _sdk_audience(self, audience: Audience) -> Any:
        sdk = self._sdk
        return sdk.Audience(
            component_name=sanitize(audience.component_name),
            operation_type=audience.operation_type,
            operation_name=sanitize(audience.operation_name),
        )

    # -- messages -------------------------------------------------------------------------------

    @property
    def passing_through(self) -> bool:
        """True while there is no client (server unreachable): messages pass untouched."""
        return self.client is None

    def on_publish(self, ctx: MessageContext) -> Verdict:
        """Process a publish through the SDK."""
        return self._process(ctx, OPERATION_TYPE_PRODUCER)

    def on_deliver(self, ctx: MessageContext) -> Verdict:
        """Process a delivery through the SDK."""
        return self._process(ctx, OPERATION_TYPE_CONSUMER)

    def _process(self, ctx: MessageContext, operation_type: int) -> Verdict:
        client = self.client
        if client is None:
            if self._server_back.is_set() and threading.current_thread() is threading.main_thread():
                self._rebuild()
            client = self.client
            if client is None:
                return PASS
        audience = ctx.audience
        component = audience.component_name if audience is not None else "rabbitmq"
        operation = audience.operation_name if audience is not None else ctx.routing_key
        request = self._request(sanitize(component), sanitize(operation), operation_type, ctx.body)
        response = client.process(request)
        status = _status_name(getattr(response, "status", None), _STATUS_NAMES)
        metadata = getattr(response, "metadata", None) or {}
        for key, value in dict(metadata).items():
            ctx.metadata[str(key)] = str(value)
        if status == "ERROR":
            reason = str(getattr(response, "status_message", "") or "streamdal pipeline error")
            return FAIL(reason)
        data = getattr(response, "data", None)
        if data is not None:
            ctx.body = bytes(data)
        if status == "FALSE" and self.drop_on_abort_false and _aborts_all(response):
            return DROP(str(getattr(response, "status_message", "") or "streamdal abort_all"))
        return PASS

    def _request(self, component: str, operation: str, operation_type: int, data: bytes) -> Any:
        sdk = self._sdk
        if sdk is None:
            try:
                sdk = self._sdk = _import_sdk()
            except ImportError:
                sdk = None
        if sdk is not None:
            return sdk.ProcessRequest(
                component_name=component,
                operation_name=operation,
                operation_type=operation_type,
                data=data,
            )
        return _Request(component, operation, operation_type, data)

    def close(self) -> None:
        """Tell the SDK's threads to exit and shut the client down (bounded)."""
        self._closed.set()
        client, self.client = self.client, None
        if client is not None:
            _shutdown(client, self.shutdown_timeout)
        retry = self._retry
        if retry is not None and retry is not threading.current_thread():
            retry.join(timeout=self.shutdown_timeout)


@dataclass(frozen=True)
class _Request:
    """What process() gets when the SDK is absent (a stand-in client in tests)."""

    component_name: str
    operation_name: str
    operation_type: int
    data: bytes


def _reachable(url: str | None) -> bool:
    """Whether a TCP connection to ``host:port`` of ``url`` opens (1 s timeout)."""
    if not url:
        return False
    host, _, port = url.rpartition("://")[2].rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port or 8082)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _aborts_all(response: Any) -> bool:
    for pipeline in getattr(response, "pipeline_status", None) or ():
        for step in getattr(pipeline, "step_status", None) or ():
            if _status_name(getattr(step, "abort_condition", 0), _ABORT_NAMES) == "ABORT_ALL":
                return True
    return False


def _import_sdk() -> Any:
    try:
        import streamdal  # optional: see the install recipe
    except ImportError as exc:
        raise ImportError(
            "the Streamdal bridge needs the streamdal SDK (unmaintained upstream; `pip install "
            f"streamdal` no longer resolves). Install it with: {STREAMDAL_INSTALL}",
            name="streamdal",
        ) from exc
    return streamdal


def _contained(factory: Callable[[], Any]) -> Any:
    """Call ``factory`` with the process's signal handlers saved and put back afterwards."""
    saved: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for number in _SIGNALS:
            try:
                saved[number] = signal.getsignal(number)
            except (OSError, ValueError):
                continue
    try:
        return factory()
    finally:
        for number, handler in saved.items():
            try:
                if signal.getsignal(number) is not handler and handler is not None:
                    signal.signal(number, handler)
            except (OSError, ValueError):
                pass


def _shutdown(client: Any, timeout: float) -> None:
    exit_event = getattr(client, "exit", None)
    if exit_event is not None and hasattr(exit_event, "set"):
        exit_event.set()
    shutdown = getattr(client, "shutdown", None)
    if shutdown is None:
        return
    worker = threading.Thread(target=_quietly, args=(shutdown,), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning("the Streamdal client did not shut down within %.1f s", timeout)


def _quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:
        logger.exception("the Streamdal client failed to shut down")
