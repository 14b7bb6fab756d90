"""The hook layer without a broker: the core's plugin manager and message contexts drive it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pika_streamdal
import pytest
from pika_streamdal import (
    DROP,
    FAIL,
    PASS,
    Audience,
    InterceptOptions,
    Interceptor,
    InterceptorError,
    MessageContext,
    MessageDropped,
    Verdict,
)
from pika_streamdal.engine import Engine
from pika_streamdal.parameters import ConnectionParameters
from pika_streamdal.pipeline import Cond, Pipeline, Step
from pika_streamdal.plugin import MESSAGE_PLUGIN_NAME

from pika_core import hooks
from pika_core.plugins import PikaPluginManager
from pika_core.spec import Basic, BasicProperties


class FakeConnection:
    def __init__(self, params: Any) -> None:
        self.params = params


class FakeChannel:
    def __init__(self, connection: FakeConnection, number: int = 1) -> None:
        self.connection = connection
        self.channel_number = number

    def basic_publish(self, *args: Any) -> None:  # makes it look like a channel
        raise NotImplementedError


class Recorder(Interceptor):
    """Records what it sees; returns a scripted verdict."""

    def __init__(self, verdict: Verdict = PASS, change: bytes | None = None) -> None:
        self.seen: list[MessageContext] = []
        self.verdict = verdict
        self.change = change
        self.confirms: list[Any] = []
        self.closed = 0

    def on_publish(self, ctx: MessageContext) -> Verdict:
        self.seen.append(ctx)
        if self.change is not None:
            ctx.body = self.change
        return self.verdict

    on_deliver = on_publish

    def on_confirm(self, ctx: MessageContext, ack: bool) -> None:
        self.confirms.append((ctx.delivery_tag, ack))

    def close(self) -> None:
        self.closed += 1


class Raiser(Interceptor):
    def on_publish(self, ctx: MessageContext) -> Verdict:
        ctx.body = b"half-changed"
        raise RuntimeError("interceptor bug")

    on_deliver = on_publish


def open_channel(manager: PikaPluginManager, params: Any) -> tuple[FakeChannel, hooks.MessageHooks]:
    if manager.get_plugin("streamdal") is None:
        manager.register(pika_streamdal, name="streamdal")
    connection = FakeConnection(params)
    hooks.connection_created(connection, manager)
    hooks.connection_opened(connection, manager)
    channel = FakeChannel(connection)
    hooks.channel_opened(channel, manager)
    message_hooks = hooks.MessageHooks.for_channel(channel, manager)
    assert message_hooks is not None
    return channel, message_hooks


def deliver(tag: str = "ctag", exchange: str = "ex.a", key: str = "k.b") -> Any:
    return Basic.Deliver(tag, 7, False, exchange, key)


EMAIL = json.dumps({"email": "someone@example.com", "n": 1}).encode()


def masking_engine() -> Engine:
    engine = Engine()
    engine.set_pipelines(
        "*",
        [
            Pipeline(
                "mask",
                "mask",
                (
                    Step("find", "detect", {"type": "email"}),
                    Step("mask", "transform", {"type": "mask"}, dynamic=True),
                ),
            )
        ],
    )
    return engine


# -- nothing configured ---------------------------------------------------------------------------


def test_installed_but_unconfigured_adds_no_message_hook(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    connection = FakeConnection(ConnectionParameters())
    hooks.connection_created(connection, pika_plugin_manager)
    channel = FakeChannel(connection)
    hooks.channel_opened(channel, pika_plugin_manager)
    assert hooks.MessageHooks.for_channel(channel, pika_plugin_manager) is None
    assert pika_plugin_manager.get_plugin(MESSAGE_PLUGIN_NAME) is None


def test_importing_the_plugin_imports_nothing_optional() -> None:
    code = (
        "import sys, pika_streamdal, pika_streamdal.engine, pika_streamdal.plugin;"
        "import pika_streamdal.parameters;"
        "bad = [m for m in ('opentelemetry', 'jsonschema', 'prometheus_client', 'streamdal',"
        " 'yaml', 'genson') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- publish --------------------------------------------------------------------------------------


def test_publish_is_masked_and_audience_keeps_dots(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder()
    params = ConnectionParameters(interceptors=[masking_engine(), recorder], service_name="svc")
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    context = message_hooks.before_publish("orders.eu", "created.v1", EMAIL, None, False)
    assert not context.dropped
    assert b"someone@" not in context.body and json.loads(context.body)["n"] == 1
    (seen,) = recorder.seen
    assert seen.body == context.body  # the second interceptor saw the first one's output
    assert seen.audience == Audience("svc", "rabbitmq", 2, "orders.eu/created.v1")
    assert seen.api == "basic_publish" and seen.direction == "publish"


def test_default_exchange_audience(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder()
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[recorder], service_name="s")
    )
    message_hooks.before_publish("", "q.1", b"x", None, False)
    assert recorder.seen[0].audience is not None
    assert recorder.seen[0].audience.operation_name == "amq.default/q.1"


def test_drop_silent_and_drop_raise(pika_plugin_manager: PikaPluginManager) -> None:
    params = ConnectionParameters(interceptors=[Recorder(DROP("no"))])
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    context = message_hooks.before_publish("e", "k", b"x", None, False)
    assert context.dropped and context.exception is None and context.reason == "no"
    params.drop_policy = "raise"
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    with pytest.raises(MessageDropped, match="no"):
        message_hooks.before_publish("e", "k", b"x", None, False)


def test_fail_pass_original_sends_the_untouched_original(
    pika_plugin_manager: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    params = ConnectionParameters(interceptors=[Recorder(change=b"masked"), Raiser()])
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    with caplog.at_level(logging.WARNING, logger="pika_streamdal"):
        context = message_hooks.before_publish("e", "k", b"original", None, False)
    assert not context.dropped and context.body == b"original"
    assert "interceptor bug" in caplog.text


def test_fail_raise_raises_interceptor_error(pika_plugin_manager: PikaPluginManager) -> None:
    params = ConnectionParameters(interceptors=[Raiser()], on_error="raise")
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    with pytest.raises(InterceptorError, match="interceptor bug") as info:
        message_hooks.before_publish("e", "k", b"original", None, False)
    assert isinstance(info.value.exc, RuntimeError)
    _c, mh = open_channel(
        pika_plugin_manager,
        ConnectionParameters(interceptors=[Recorder(FAIL("nope"))], on_error="raise"),
    )
    with pytest.raises(InterceptorError, match="nope"):  # a FAIL verdict too
        mh.before_publish("e", "k", b"x", None, False)


def test_per_call_options_override_policy_and_audience(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    recorder = Recorder(DROP("drop it"))
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[recorder])
    )
    custom = Audience("svc.x", "rabbitmq", 1, "custom.name")
    options = InterceptOptions(audience=custom, drop_policy="raise")
    with pika_streamdal.call_options(options), pytest.raises(MessageDropped):
        message_hooks.before_publish("e", "k", b"x", None, False)
    assert recorder.seen[-1].audience == Audience("svc.x", "rabbitmq", 2, "custom.name")
    with pika_streamdal.call_options(InterceptOptions(skip=True)):
        context = message_hooks.before_publish("e", "k", b"x", None, False)
    assert not context.dropped and len(recorder.seen) == 1


def test_streamdal_cfg_compat_alias(pika_plugin_manager: PikaPluginManager) -> None:
    from pika_streamdal import StreamdalRuntimeConfig

    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[Raiser()])
    )
    cfg = StreamdalRuntimeConfig(audience=Audience("s", "rabbitmq", 1, "a.b"), strict_errors=True)
    with pika_streamdal.call_options(streamdal_cfg=cfg), pytest.raises(InterceptorError):
        message_hooks.before_publish("e", "k", b"x", None, False)


def test_header_changes_reach_the_context(pika_plugin_manager: PikaPluginManager) -> None:
    class Tagger(Interceptor):
        def on_publish(self, ctx: MessageContext) -> Verdict:
            ctx.set_header("x-checked", "yes")
            return PASS

    props = BasicProperties(headers={"a": 1})
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[Tagger])
    )
    context = message_hooks.before_publish("e", "k", b"x", props, False)
    assert context.properties.headers == {"a": 1, "x-checked": "yes"}
    assert props.headers == {"a": 1}  # the application's object is untouched


# -- delivery, basic_get, return, confirm ---------------------------------------------------------


def test_delivery_is_masked_with_queue_audience(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder()
    channel, message_hooks = open_channel(
        pika_plugin_manager,
        ConnectionParameters(interceptors=[masking_engine(), recorder], service_name="svc"),
    )
    pika_streamdal.set_consumer(channel, "ctag", "orders.eu.q", api="consume")
    context = message_hooks.on_delivery(deliver(), None, EMAIL)
    assert not context.dropped and b"someone@" not in context.body
    seen = recorder.seen[0]
    assert seen.audience == Audience("svc", "rabbitmq", 1, "orders.eu.q")
    assert (seen.api, seen.consumer_tag, seen.delivery_tag) == ("consume", "ctag", 7)


def test_basic_get_is_intercepted(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder(change=b"changed")
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[recorder])
    )
    context = message_hooks.on_delivery(
        Basic.GetOk(3, False, "ex", "rk", 0), None, b"x", "q", "basic_get"
    )
    assert context.body == b"changed" and recorder.seen[0].api == "basic_get"


@pytest.mark.parametrize(
    ("action", "requeue"), [(None, False), ("reject", False), ("nack_requeue", True)]
)
def test_dropped_delivery_is_settled_per_action(
    pika_plugin_manager: PikaPluginManager, action: str | None, requeue: bool
) -> None:
    params = ConnectionParameters(interceptors=[Recorder(DROP("bad"))], consume_drop_action=action)
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    context = message_hooks.on_delivery(deliver(), None, b"x")
    assert context.dropped and context.requeue is requeue and context.reason == "bad"


def test_failed_delivery_with_raise_is_rejected(pika_plugin_manager: PikaPluginManager) -> None:
    params = ConnectionParameters(
        interceptors=[Raiser()], on_error="raise", consume_drop_action="nack_requeue"
    )
    _channel, message_hooks = open_channel(pika_plugin_manager, params)
    context = message_hooks.on_delivery(deliver(), None, b"x")
    assert context.dropped and context.requeue is False


def test_failed_delivery_with_pass_original_is_delivered(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[Raiser()])
    )
    context = message_hooks.on_delivery(deliver(), None, b"original")
    assert not context.dropped and context.body == b"original"


def test_schema_drop_on_delivery_counts(pika_plugin_manager: PikaPluginManager) -> None:
    engine = Engine()
    step = Step(
        "v",
        "validate",
        {"type": "json_schema", "schema": {"type": "object", "required": ["id"]}},
        on_false=Cond(drop=True),
    )
    engine.set_pipelines(("*", "*", "consumer"), [Pipeline("p", "p", (step,))])
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[engine])
    )
    assert message_hooks.on_delivery(deliver(), None, b'{"x": 1}').dropped
    assert not message_hooks.on_delivery(deliver(), None, b'{"id": 1}').dropped
    assert engine.metrics_snapshot().value("dropped_total") == 1


def test_return_uses_exchange_audience_and_can_be_dropped(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    recorder = Recorder(DROP("hide"))
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[recorder], service_name="s")
    )
    context = message_hooks.on_return(Basic.Return(312, "NO_ROUTE", "ex.z", "rk"), None, b"x")
    assert context.dropped
    assert recorder.seen[0].api == "return"
    assert recorder.seen[0].audience == Audience("s", "rabbitmq", 1, "ex.z")


def test_confirm_reaches_on_confirm(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder()
    _channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[recorder])
    )
    message_hooks.on_confirm(1, "acked")
    message_hooks.on_confirm(2, "nacked")
    assert recorder.confirms == [(1, True), (2, False)]


# -- registration and lifecycle -------------------------------------------------------------------


def test_channel_interceptors_apply_to_that_channel_only(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[Recorder()])
    )
    local = pika_streamdal.add_interceptor(channel, Recorder(change=b"local"))
    other = FakeChannel(channel.connection, 2)
    hooks.channel_opened(other, pika_plugin_manager)
    other_hooks = hooks.MessageHooks.for_channel(other, pika_plugin_manager)
    assert other_hooks is not None
    assert message_hooks.before_publish("e", "k", b"x", None, False).body == b"local"
    assert other_hooks.before_publish("e", "k", b"x", None, False).body == b"x"
    assert pika_streamdal.interceptors_of(channel)[-1] is local


def test_connection_close_closes_interceptors(pika_plugin_manager: PikaPluginManager) -> None:
    recorder = Recorder()
    channel, message_hooks = open_channel(
        pika_plugin_manager, ConnectionParameters(interceptors=[lambda: recorder])
    )
    hooks.connection_closed(channel.connection, RuntimeError("gone"), pika_plugin_manager)
    assert recorder.closed == 1
    # After the close the channel has no state: messages pass untouched.
    assert message_hooks.before_publish("e", "k", b"x", None, False).body == b"x"


def test_add_interceptor_on_a_channel_opened_before_activation_explains(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    connection = FakeConnection(ConnectionParameters())
    channel = FakeChannel(connection)
    hooks.channel_opened(channel, pika_plugin_manager)
    with pytest.raises(RuntimeError, match="activate"):
        pika_streamdal.add_interceptor(channel, Recorder())


def test_parameters_validate_and_enable_streamdal_without_sdk_explains() -> None:
    with pytest.raises(ValueError, match="on_error"):
        ConnectionParameters(on_error="ignore")
    with pytest.raises(TypeError, match="interceptor"):
        ConnectionParameters(interceptors=[object()])
    with pytest.raises(TypeError, match="unexpected keyword"):
        ConnectionParameters(intercepters=[])
    import importlib.util

    if importlib.util.find_spec("streamdal") is not None:
        pytest.skip("the streamdal SDK is installed here")
    with pytest.raises(ImportError, match="--no-deps streamdal==0.1.18"):
        ConnectionParameters(enable_streamdal=True)


def test_parameters_deepcopy_shares_interceptors() -> None:
    import copy

    recorder = Recorder()
    params = ConnectionParameters(interceptors=[recorder], service_name="s")
    clone = copy.deepcopy(params)
    assert clone.interceptors[0] is recorder and clone.service_name == "s"
