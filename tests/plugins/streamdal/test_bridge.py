"""The Streamdal SDK bridge with a stand-in client: status mapping, audiences, policies, fallback."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from pika_streamdal.bridge import StreamdalInterceptor, StreamdalRuntimeConfig, sanitize
from pika_streamdal.context import Audience, MessageContext
from pika_streamdal.interceptors import InterceptorChain, Policy


@dataclass
class Step:
    abort_condition: int = 0


@dataclass
class PipelineStatus:
    step_status: list[Step] = field(default_factory=list)


@dataclass
class Response:
    status: int
    data: bytes = b""
    status_message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    pipeline_status: list[PipelineStatus] = field(default_factory=list)


class FakeClient:
    def __init__(self, response: Response) -> None:
        self.response = response
        self.requests: list[Any] = []
        self.exit = threading.Event()
        self.shut = False

    def process(self, request: Any) -> Response:
        self.requests.append(request)
        return self.response

    def shutdown(self) -> None:
        self.shut = True


def ctx(body: bytes = b'{"a":1}') -> MessageContext:
    c = MessageContext("publish", "basic_publish", body, exchange="ex.a", routing_key="k.b")
    c.audience = Audience("svc", "rabbitmq", 2, "ex.a/k.b")
    return c


def test_true_and_false_pass_the_new_body_and_sanitize_the_audience() -> None:
    client = FakeClient(Response(1, b'{"a":"*"}', metadata={"m": "1"}))
    interceptor = StreamdalInterceptor(client)
    message = ctx()
    assert interceptor.on_publish(message).passed
    assert message.body == b'{"a":"*"}' and message.metadata == {"m": "1"}
    request = client.requests[0]
    assert request.operation_name == "ex_a/k_b" and request.component_name == "rabbitmq"
    assert request.operation_type == 2
    client.response = Response(2, b"false-body")
    assert interceptor.on_deliver(message).passed and message.body == b"false-body"
    assert client.requests[-1].operation_type == 1
    assert sanitize("a.b.c") == "a_b_c"


def test_error_is_fail_and_goes_through_the_error_policy() -> None:
    client = FakeClient(Response(3, b"", status_message="wasm trap"))
    verdict = StreamdalInterceptor(client).on_publish(ctx())
    assert verdict.kind == "fail" and verdict.reason == "wasm trap"
    chain = InterceptorChain([StreamdalInterceptor(client)])
    message = ctx(b"orig")
    assert chain.run(message, "on_publish", Policy("pass_original")).passed
    assert message.body == b"orig"
    assert chain.run(ctx(), "on_publish", Policy("raise")).kind == "fail"


def test_drop_on_abort_false_is_opt_in() -> None:
    response = Response(2, b"x", pipeline_status=[PipelineStatus([Step(2)])])
    assert StreamdalInterceptor(FakeClient(response)).on_publish(ctx()).passed
    dropping = StreamdalInterceptor(FakeClient(response), drop_on_abort_false=True)
    assert dropping.on_publish(ctx()).kind == "drop"


def test_server_unreachable_passes_through_and_retries_in_background() -> None:
    attempts: list[int] = []
    ready = FakeClient(Response(1, b"from-server"))

    def factory() -> Any:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("no server")
        return ready

    before = signal.getsignal(signal.SIGINT)
    interceptor = StreamdalInterceptor(client_factory=factory, retry_initial=0.01, retry_max=0.02)
    try:
        message = ctx(b"orig")
        assert interceptor.passing_through
        assert interceptor.on_publish(message).passed and message.body == b"orig"
        interceptor._retry.join(5)  # type: ignore[union-attr]
        assert interceptor.client is ready and len(attempts) == 3
        assert interceptor.on_publish(message).passed and message.body == b"from-server"
    finally:
        interceptor.close()
    assert ready.exit.is_set() and ready.shut
    assert signal.getsignal(signal.SIGINT) is before
    leaked = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    assert leaked == []


def test_startup_error_raises_without_ignore() -> None:
    def factory() -> Any:
        raise ConnectionRefusedError("no server")

    with pytest.raises(ConnectionRefusedError):
        StreamdalInterceptor(client_factory=factory, ignore_startup_error=False)


def test_signal_handlers_are_restored_around_construction() -> None:
    def mine(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:

        def factory() -> Any:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what the SDK does
            return FakeClient(Response(1))

        StreamdalInterceptor(client_factory=factory).close()
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_without_the_sdk_the_error_gives_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    if importlib.util.find_spec("streamdal") is not None:
        pytest.skip("the streamdal SDK is installed here")
    monkeypatch.setenv("STREAMDAL_URL", "localhost:8082")
    monkeypatch.setenv("STREAMDAL_TOKEN", "t")
    monkeypatch.setenv("STREAMDAL_SERVICE_NAME", "s")
    with pytest.raises(ImportError, match="--no-deps"):
        StreamdalInterceptor()


def test_missing_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMDAL_URL", "STREAMDAL_ADDRESS", "STREAMDAL_TOKEN", "STREAMDAL_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="STREAMDAL_ADDRESS or STREAMDAL_URL"):
        StreamdalInterceptor()


def test_runtime_config_compat() -> None:
    cfg = StreamdalRuntimeConfig(audience=Audience("s", "rabbitmq", 1, "q"), strict_errors=True)
    from pika_streamdal.context import InterceptOptions

    options = InterceptOptions.from_streamdal_cfg(cfg)
    assert options.on_error == "raise" and options.audience == cfg.audience
