"""Acceptance tests of section 5.5 against the real broker, over the blocking, select and asyncio
adapters (``adapter`` parametrises every test that does not name one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any, Callable, ClassVar, Iterator

import pika_streamdal
import pytest
from pika_streamdal import (
    DROP,
    Audience,
    InterceptOptions,
    Interceptor,
    InterceptorError,
    MessageContext,
    MessageDropped,
    StreamdalRuntimeConfig,
    Verdict,
)
from pika_streamdal.engine import Engine
from pika_streamdal.pipeline import Cond, Pipeline, Step
from streamdal_clients import ADAPTERS, BlockingClient, Client, open_client

from pika_core import exceptions
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.parameters import ConnectionParameters
from pika_core.plugins import PikaPluginManager

pytestmark = pytest.mark.broker

EMAIL = {"email": "someone@example.com", "card": "4111 1111 1111 1111", "n": 1}
OPTIONAL_MODULES = ("opentelemetry", "jsonschema", "prometheus_client", "streamdal", "yaml")


def mask_engine(pattern: Any = "*") -> Engine:
    engine = Engine()
    engine.set_pipelines(
        pattern,
        [
            Pipeline(
                "mask",
                "mask",
                (
                    Step("find", "detect", {"type": "pii_any"}),
                    Step("mask", "transform", {"type": "mask"}, dynamic=True),
                ),
            )
        ],
    )
    return engine


def schema_drop_engine(pattern: Any = "*") -> Engine:
    engine = Engine()
    step = Step(
        "v",
        "validate",
        {"type": "json_schema", "schema": {"type": "object", "required": ["id"]}},
        on_false=Cond(drop=True),
    )
    engine.set_pipelines(pattern, [Pipeline("schema", "schema", (step,))])
    return engine


def masked(body: bytes) -> bool:
    text = bytes(body).decode()
    return "someone@" not in text and "4111 1111 1111 1111" not in text


_CREATED: list[str] = []


def queue_name(prefix: str) -> str:
    """A fresh queue name; the queue is deleted after the test (see ``delete_queues``)."""
    name = f"{prefix}.streamdal.{uuid.uuid4().hex[:8]}"
    _CREATED.append(name)
    return name


@pytest.fixture(autouse=True)
def delete_queues() -> Iterator[None]:
    """Leave nothing on the shared broker: delete the queues the test named."""
    yield
    if not _CREATED:
        return
    names = list(_CREATED)
    _CREATED.clear()
    connection = BlockingConnection(ConnectionParameters("127.0.0.1"))
    try:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(name)
    finally:
        connection.close()


@pytest.fixture
def streamdal(pika_plugin_manager: PikaPluginManager) -> PikaPluginManager:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    return pika_plugin_manager


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(adapter: str) -> Iterator[Callable[..., Client]]:
    """``connect(**options)``: a client of the test's adapter, closed after the test."""
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        client = open_client(adapter, ConnectionParameters("127.0.0.1", **options))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def plain() -> Iterator[Any]:
    """A blocking channel without interceptors, to see what the broker really holds."""
    connection = BlockingConnection(ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.confirm_delivery()  # its publishes are routed before the next line runs
    yield channel
    if connection.is_open:
        connection.close()


def get_raw(channel: Any, queue: str, timeout: float = 5.0) -> bytes:
    """The next message of ``queue`` (waiting: another connection published it)."""
    deadline = time.monotonic() + timeout
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return bytes(body)
        assert time.monotonic() < deadline, "the broker holds no message"
        time.sleep(0.02)


def message_count(channel: Any, queue: str) -> int:
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def settle_count(channel: Any, queue: str, expected: int, timeout: float = 5.0) -> int:
    """The queue's ready count once it equals ``expected`` (or whatever it is at the deadline)."""
    deadline = time.monotonic() + timeout
    count = message_count(channel, queue)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = message_count(channel, queue)
    return count


# -------------------------------------------------------------------------------------------------
# 1, 3: the broker receives the masked body (a str body is encoded, then masked)
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("confirm", [False, True], ids=["no-confirm", "confirm"])
def test_broker_receives_the_masked_body(
    streamdal: Any, plain: Any, connect: Callable[..., Client], confirm: bool
) -> None:
    queue = queue_name("orders.eu")
    plain.queue_declare(queue, auto_delete=True)
    client = connect(interceptors=[mask_engine()])
    if confirm:
        client.confirm()
    client.publish("", queue, json.dumps(EMAIL))  # a str body: encoded, then masked
    body = get_raw(plain, queue)
    assert masked(body) and json.loads(body)["n"] == 1
    client.publish("", queue, json.dumps(EMAIL).encode(), intercept=InterceptOptions(skip=True))
    assert not masked(get_raw(plain, queue))  # a per-call option reaches the plugin


# -------------------------------------------------------------------------------------------------
# 2: consumers see masked bodies on every delivery path
# -------------------------------------------------------------------------------------------------


def test_consumers_see_masked_bodies_on_every_path(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("orders.in")
    plain.queue_declare(queue, auto_delete=False)
    client = connect(interceptors=[mask_engine({"operation_type": "consumer"})])
    try:
        plain.basic_publish("", queue, json.dumps(EMAIL))
        method, _p, body = client.get(queue)
        assert method is not None and masked(body)

        plain.basic_publish("", queue, json.dumps(EMAIL))
        seen = client.consume(queue, 1)
        assert len(seen) == 1 and masked(seen[0])

        if isinstance(client, BlockingClient):
            plain.basic_publish("", queue, json.dumps(EMAIL))
            seen = client.generator(queue, 1)
            assert len(seen) == 1 and masked(seen[0])

        # A return is intercepted as it comes back (the producer pipeline does not apply).
        returned = client.returned("", queue + ".nowhere", json.dumps(EMAIL).encode())
        assert len(returned) == 1 and masked(returned[0])
    finally:
        plain.queue_delete(queue)


def test_per_call_options_follow_each_consumer(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    seen: list[MessageContext] = []

    class Spy(Interceptor):
        def on_deliver(self, ctx: MessageContext) -> Verdict:
            seen.append(ctx)
            return pika_streamdal.PASS

    queue = queue_name("calls.q")
    plain.queue_declare(queue, auto_delete=False)
    client = connect(interceptors=[Spy()])
    try:
        plain.basic_publish("", queue, b"1")
        plain.basic_publish("", queue, b"2")
        options = InterceptOptions(audience=Audience("svc.x", "rabbitmq", 2, "named.op"))
        assert len(client.consume(queue, 2, intercept=options)) == 2
        plain.basic_publish("", queue, b"3")
        assert client.get(queue)[0] is not None
    finally:
        plain.queue_delete(queue)
    assert [ctx.api for ctx in seen] == ["basic_consume", "basic_consume", "basic_get"]
    assert [ctx.queue for ctx in seen] == [queue] * 3
    # the consumer's options come with each of its deliveries; the operation type follows
    # the direction
    assert seen[0].audience == Audience("svc.x", "rabbitmq", 1, "named.op") == seen[1].audience
    assert seen[2].options is None and seen[2].audience is not None
    assert seen[2].audience.operation_name == queue


def test_unknown_call_option_is_a_type_error(
    streamdal: Any, connect: Callable[..., Client]
) -> None:
    client = connect()
    with pytest.raises(TypeError, match="unexpected keyword argument 'intercpt'"):
        client.publish("", "nowhere", b"x", intercpt=InterceptOptions())
    with pytest.raises(TypeError, match="InterceptOptions"):
        client.get("nowhere", intercept="skip")
    assert client.is_usable()


# -------------------------------------------------------------------------------------------------
# 4: drop (publish and delivery), its settle modes and counters
# -------------------------------------------------------------------------------------------------


def test_schema_false_drop_on_publish(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("orders.schema")
    plain.queue_declare(queue, auto_delete=True)
    engine = schema_drop_engine()
    client = connect(interceptors=[engine])
    client.confirm()
    client.publish("", queue, b'{"no": "id"}')  # dropped silently: not sent, no sequence number
    assert client.publish_sequence() == 0
    client.publish("", queue, b'{"id": 1}')
    assert client.publish_sequence() == 1
    with pytest.raises(MessageDropped):
        client.publish("", queue, b'{"no": "id"}', intercept=InterceptOptions(drop_policy="raise"))
    assert client.publish_sequence() == 1
    raising = connect(interceptors=[schema_drop_engine()], drop_policy="raise")
    with pytest.raises(MessageDropped):
        raising.publish("", queue, b'{"no": "id"}')
    assert get_raw(plain, queue) == b'{"id": 1}'
    assert plain.basic_get(queue, auto_ack=True)[0] is None
    assert engine.metrics_snapshot().value("dropped_total") == 2
    assert client.is_usable() and raising.is_usable()


def test_dropped_delivery_is_rejected_to_the_dead_letter_queue(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("orders.dlx")
    dead = queue + ".dlq"
    plain.queue_declare(dead, auto_delete=False)
    plain.queue_declare(
        queue,
        auto_delete=False,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
    )
    engine = schema_drop_engine({"operation_type": "consumer"})
    client = connect(interceptors=[engine])
    try:
        plain.basic_publish("", queue, b'{"bad": true}')
        plain.basic_publish("", queue, b'{"id": 2}')
        seen = client.consume(queue, 1, auto_ack=False)
        assert seen == [b'{"id": 2}']  # the callback never ran for the dropped one
        assert get_raw(plain, dead) == b'{"bad": true}'  # rejected without requeue
        plain.basic_publish("", queue, b'{"bad": "get"}')
        time.sleep(0.1)
        assert client.get(queue, auto_ack=False)[0] is None
        assert get_raw(plain, dead) == b'{"bad": "get"}'
        snapshot = engine.metrics_snapshot()
        assert snapshot.value("dropped_total", operation_type="consumer") == 2
    finally:
        plain.queue_delete(queue)
        plain.queue_delete(dead)


@pytest.mark.parametrize("action", ["ack", "none", "nack_requeue"])
def test_consume_drop_action_settles_as_asked(
    streamdal: Any, plain: Any, connect: Callable[..., Client], action: str
) -> None:
    queue = queue_name("orders.settle")
    plain.queue_declare(queue, auto_delete=False)
    engine = schema_drop_engine({"operation_type": "consumer"})
    client = connect(interceptors=[engine], consume_drop_action=action)
    try:
        plain.basic_publish("", queue, b'{"bad": 1}')
        time.sleep(0.1)
        assert client.get(queue, auto_ack=False)[0] is None  # dropped: not handed over
        if action == "ack":  # settled: gone for good
            assert settle_count(plain, queue, 0) == 0
        elif action == "nack_requeue":  # back in the queue, redelivered
            assert settle_count(plain, queue, 1) == 1
            method, _p, body = plain.basic_get(queue, auto_ack=True)
            assert method is not None and method.redelivered and body == b'{"bad": 1}'
        else:  # "none": unsettled until the connection ends, then the broker requeues it
            assert settle_count(plain, queue, 0) == 0
            client.close()
            assert settle_count(plain, queue, 1) == 1
    finally:
        plain.queue_delete(queue)


# -------------------------------------------------------------------------------------------------
# 5: error policies, including an exception inside an interceptor
# -------------------------------------------------------------------------------------------------


class Exploding(Interceptor):
    def on_publish(self, ctx: MessageContext) -> Verdict:
        ctx.body = b"half-changed"
        raise RuntimeError("boom")

    on_deliver = on_publish


def test_error_policies_keep_the_connection_usable(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("errors")
    plain.queue_declare(queue, auto_delete=False)
    try:
        lenient = connect(interceptors=[Exploding()])
        lenient.publish("", queue, b"original")
        assert get_raw(plain, queue) == b"original"  # pass_original: untouched
        strict = connect(interceptors=[Exploding()], on_error="raise")
        with pytest.raises(InterceptorError, match="boom"):
            strict.publish("", queue, b"x")
        assert strict.is_usable()
        strict.publish("", queue, b"after", intercept=InterceptOptions(on_error="pass_original"))
        assert get_raw(plain, queue) == b"after"
        # deliveries: pass_original delivers the original; raise keeps it from the callback
        plain.basic_publish("", queue, b"in")
        assert lenient.consume(queue, 1) == [b"in"]
        plain.basic_publish("", queue, b"in2")
        assert strict.consume(queue, 1, auto_ack=False, timeout=1.0) == []
        assert strict.is_usable() and lenient.is_usable()
    finally:
        plain.queue_delete(queue)


# -------------------------------------------------------------------------------------------------
# 6: audiences with dots, overrides, streamdal_cfg=
# -------------------------------------------------------------------------------------------------


def test_audiences_with_dots_and_streamdal_cfg(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    seen: list[MessageContext] = []

    class Spy(Interceptor):
        def on_publish(self, ctx: MessageContext) -> Verdict:
            seen.append(ctx)
            return DROP("spy")

        def on_deliver(self, ctx: MessageContext) -> Verdict:
            seen.append(ctx)
            return pika_streamdal.PASS

    exchange = queue_name("ex.with.dots")
    queue = queue_name("q.with.dots")
    plain.exchange_declare(exchange, "topic", auto_delete=True)
    plain.queue_declare(queue, auto_delete=False)
    client = connect(interceptors=[Spy()], service_name="svc.a")
    try:
        client.publish(exchange, "rk.x.y", b"x")
        cfg = StreamdalRuntimeConfig(audience=Audience("svc.b", "rabbitmq", 1, "custom.op"))
        client.publish(exchange, "rk", b"x", streamdal_cfg=cfg)
        plain.basic_publish("", queue, b"d")
        assert client.get(queue)[0] is not None
        plain.basic_publish("", queue, b"e")
        assert client.consume(queue, 1, streamdal_cfg=cfg) == [b"e"]
    finally:
        plain.exchange_delete(exchange)
        plain.queue_delete(queue)
    assert seen[0].audience == Audience("svc.a", "rabbitmq", 2, f"{exchange}/rk.x.y")
    assert seen[1].audience == Audience("svc.b", "rabbitmq", 2, "custom.op")
    assert seen[2].audience == Audience("svc.a", "rabbitmq", 1, queue)
    assert seen[3].audience == Audience("svc.b", "rabbitmq", 1, "custom.op")


# -------------------------------------------------------------------------------------------------
# 7: tail with sampling and overflow
# -------------------------------------------------------------------------------------------------


def test_tail_sees_original_and_masked_with_overflow_and_sampling(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("tail")
    plain.queue_declare(queue, auto_delete=True)
    engine = mask_engine()
    bounded = engine.tail("*", maxsize=2)
    sampled = engine.tail("*", sample_rate=1, sample_interval=60.0)
    client = connect(interceptors=[engine])
    for _ in range(3):
        client.publish("", queue, json.dumps(EMAIL))
    event = bounded.get(timeout=1)
    assert event is not None and event.original is not None and event.new is not None
    assert not masked(event.original) and masked(event.new)
    assert bounded.dropped == 1
    assert engine.metrics_snapshot().value("tail_dropped_total") == 1
    assert sampled.get(timeout=1) is not None and sampled.get(timeout=0.1) is None
    bounded.close()
    sampled.close()


# -------------------------------------------------------------------------------------------------
# 8: nothing configured: no change, one check per message, no optional import
# -------------------------------------------------------------------------------------------------


def test_no_interceptors_no_change(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    queue = queue_name("plain")
    plain.queue_declare(queue, auto_delete=True)
    client = connect()
    assert getattr(client.channel, "_hooks", "missing") is None  # the per-message cost: one check
    client.publish("", queue, json.dumps(EMAIL))
    assert not masked(get_raw(plain, queue))
    plain.basic_publish("", queue, json.dumps(EMAIL))
    time.sleep(0.1)
    assert not masked(client.get(queue)[2])


def test_unconfigured_plugin_imports_nothing_optional() -> None:
    """In a fresh process with the plugin loaded from its entry point, over every adapter."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import pika_core
        from pika_core.plugins import get_plugin_manager
        from streamdal_clients import ADAPTERS, open_client
        assert get_plugin_manager().get_plugin("streamdal") is not None
        for adapter in ADAPTERS:
            client = open_client(adapter, pika_core.ConnectionParameters("127.0.0.1"))
            client.publish("", "streamdal.nowhere", b"x")
            assert client.channel._hooks is None, adapter
            client.close()
        loaded = sorted(m for m in {OPTIONAL_MODULES!r} if m in sys.modules)
        print("LOADED", loaded)
        """
    )
    env = dict(os.environ)
    env.pop("PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PIKA_CORE_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


# -------------------------------------------------------------------------------------------------
# 9: the Streamdal bridge: a stand-in client, and the server unreachable
# -------------------------------------------------------------------------------------------------


class StandInClient:
    """The SDK client's surface the bridge uses: process() returns a TRUE response."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.exit = threading.Event()
        self.shut = False

    def process(self, request: Any) -> Any:
        self.requests.append(request)

        class Response:
            status = 1
            data = request.data.replace(b"secret", b"******")
            status_message = ""
            metadata: ClassVar[dict[str, str]] = {}
            pipeline_status: ClassVar[list[Any]] = []

        return Response()

    def shutdown(self) -> None:
        self.shut = True


def test_streamdal_bridge_with_a_stand_in_client(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    from pika_streamdal.bridge import StreamdalInterceptor

    queue = queue_name("sd.stand.in")
    plain.queue_declare(queue, auto_delete=True)
    stand_in = StandInClient()
    client = connect(interceptors=[StreamdalInterceptor(stand_in)], service_name="svc.dots")
    client.publish("", queue, b"a secret", streamdal_cfg=StreamdalRuntimeConfig(None, True))
    assert get_raw(plain, queue) == b"a ******"
    request = stand_in.requests[0]
    assert request.operation_type == 2 and request.operation_name == "amq_default/" + queue.replace(
        ".", "_"
    )
    client.close()
    assert stand_in.shut and stand_in.exit.is_set()


def test_streamdal_server_down_passes_through(
    streamdal: Any, plain: Any, connect: Callable[..., Client]
) -> None:
    from pika_streamdal.bridge import StreamdalInterceptor

    def factory() -> Any:
        raise ConnectionRefusedError("server down")

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    queue = queue_name("sd.down")
    plain.queue_declare(queue, auto_delete=True)
    interceptor = StreamdalInterceptor(client_factory=factory, retry_initial=60)
    client = connect(interceptors=[interceptor])
    client.publish("", queue, b"through")
    assert get_raw(plain, queue) == b"through"
    client.close()
    leaked = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    assert leaked == []
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


def test_enable_streamdal_without_the_sdk_raises_with_the_recipe(streamdal: Any) -> None:
    if "streamdal" in sys.modules or _sdk_importable():
        pytest.skip("the streamdal SDK is installed in this environment")
    with pytest.raises(ImportError, match="pip install --no-deps streamdal"):
        ConnectionParameters("127.0.0.1", enable_streamdal=True)


def _sdk_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("streamdal") is not None


# -------------------------------------------------------------------------------------------------
# Lifecycle, and `pika-core tail` against the broker
# -------------------------------------------------------------------------------------------------


def test_closed_connection_closes_interceptors(
    streamdal: Any, connect: Callable[..., Client]
) -> None:
    closed: list[int] = []

    class Closing(Interceptor):
        def close(self) -> None:
            closed.append(1)

    client = connect(interceptors=[Closing])
    client.close()
    assert closed == [1]


def test_blocking_connection_refuses_a_channel_after_close(streamdal: Any) -> None:
    connection = BlockingConnection(ConnectionParameters("127.0.0.1", interceptors=[Interceptor]))
    connection.channel()
    connection.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()


def test_pika_core_tail_prints_masked_messages(plain: Any, tmp_path: Any) -> None:
    queue = queue_name("tail.cli")
    plain.queue_declare(queue, auto_delete=False)
    pipelines = tmp_path / "pipelines.json"
    pipelines.write_text(
        json.dumps(
            {
                "audience": "*",
                "pipelines": [
                    {
                        "id": "mask",
                        "steps": [
                            {"name": "find", "kind": "detect", "type": "pii_any"},
                            {"name": "mask", "kind": "transform", "type": "mask", "dynamic": True},
                        ],
                    }
                ],
            }
        )
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pika_core", "tail", "--queue", queue, "--pipeline", str(pipelines)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # its consumer is attached: the queue has one
            info = plain.queue_declare(queue, passive=True).method
            if info.consumer_count or process.poll() is not None:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        plain.basic_publish("", queue, json.dumps(EMAIL))
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        plain.queue_delete(queue)
    assert process.returncode in (0, 130), err
    assert "ann" not in out and "someone@" not in out and "4111 1111 1111 1111" not in out, out
    assert '"n": 1' in out or '"n":1' in out, out + err
