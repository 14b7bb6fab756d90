"""pika_core.hooks: message contexts, per-channel callers and lifecycle notices, with plugins
registered in-process on fresh managers."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from pika_core import hooks
from pika_core.hooks import (
    ConfirmContext,
    DeliveryContext,
    MessageHooks,
    PublishContext,
    ReturnContext,
)
from pika_core.plugins import PikaPluginManager, hookimpl, new_plugin_manager
from pika_core.testing import fresh_plugin_manager

CHANNEL = object()
PROPS = SimpleNamespace(headers={"a": 1})
DELIVER = SimpleNamespace(
    consumer_tag="ctag", delivery_tag=7, exchange="ex", routing_key="rk", redelivered=True
)
GET_OK = SimpleNamespace(delivery_tag=3, exchange="", routing_key="q", redelivered=False)
RETURN = SimpleNamespace(reply_code=312, reply_text="NO_ROUTE", exchange="ex", routing_key="rk")


@pytest.fixture
def pm() -> PikaPluginManager:
    return new_plugin_manager()


@pytest.fixture
def global_pm() -> Iterator[PikaPluginManager]:
    yield from fresh_plugin_manager()


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pika_core.plugins" and r.levelno >= 40]


# -- resolution -------------------------------------------------------------------------------------


def test_no_message_hook_implemented_gives_none(pm: PikaPluginManager) -> None:
    class Lifecycle:
        @hookimpl
        def pika_channel_opened(self, channel: Any) -> None:
            pass

    pm.register(Lifecycle())
    assert MessageHooks.for_channel(CHANNEL, pm) is None


def test_for_channel_uses_the_process_wide_manager(global_pm: PikaPluginManager) -> None:
    assert MessageHooks.for_channel(CHANNEL) is None

    class Counter:
        @hookimpl
        def pika_on_confirm(self, context: ConfirmContext) -> None:
            pass

    global_pm.register(Counter())
    resolved = MessageHooks.for_channel(CHANNEL)
    assert resolved is not None
    assert resolved.channel is CHANNEL


def test_resolution_is_a_snapshot_taken_when_the_channel_opens(pm: PikaPluginManager) -> None:
    seen: list[str] = []

    class First:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            seen.append("first")

    class Late:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            seen.append("late")

    pm.register(First())
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    pm.register(Late())
    resolved.before_publish("ex", "rk", b"x", None, False)
    assert seen == ["first"]


def test_implementations_run_newest_first(pm: PikaPluginManager) -> None:
    seen: list[str] = []
    for label in ("old", "new"):

        class Plugin:
            name = label

            @hookimpl
            def pika_on_delivery(self, context: DeliveryContext) -> None:
                seen.append(self.name)

        pm.register(Plugin())
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    resolved.on_delivery(DELIVER, PROPS, b"x")
    assert seen == ["new", "old"]


def test_an_implementation_may_take_no_arguments(pm: PikaPluginManager) -> None:
    calls: list[int] = []

    class NoArgs:
        @hookimpl
        def pika_before_publish(self) -> None:
            calls.append(1)

    pm.register(NoArgs())
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    context = resolved.before_publish("ex", "rk", b"x", None, False)
    assert calls == [1]
    assert not context.dropped


# -- publish ------------------------------------------------------------------------------------------


def _publish_hooks(pm: PikaPluginManager, *plugins: object) -> MessageHooks:
    for plugin in plugins:
        pm.register(plugin)
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    return resolved


def test_publish_context_carries_the_message_and_changes_apply(pm: PikaPluginManager) -> None:
    received: list[tuple[Any, ...]] = []

    class Rewrite:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            received.append(
                (
                    context.channel,
                    context.exchange,
                    context.routing_key,
                    context.body,
                    context.properties,
                    context.mandatory,
                )
            )
            context.exchange = "other"
            context.routing_key = "rk2"
            context.body = context.body.upper()
            context.mandatory = True

    resolved = _publish_hooks(pm, Rewrite())
    context = resolved.before_publish("ex", "rk", b"hello", PROPS, False)
    assert received == [(CHANNEL, "ex", "rk", b"hello", PROPS, False)]
    assert (context.exchange, context.routing_key, context.body, context.mandatory) == (
        "other",
        "rk2",
        b"HELLO",
        True,
    )
    assert not context.dropped
    assert context.reason == ""
    assert context.exception is None
    assert context.stopped_by is None


def test_publish_drop_stops_the_chain_and_names_the_plugin(pm: PikaPluginManager) -> None:
    later: list[int] = []

    class Earlier:  # registered first, so called after the dropper
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            later.append(1)

    class Dropper:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            context.drop("too large")

    pm.register(Earlier())
    pm.register(Dropper(), name="dropper")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    context = resolved.before_publish("ex", "rk", b"x", None, False)
    assert context.dropped
    assert context.reason == "too large"
    assert context.stopped_by == "dropper"
    assert later == []


def test_publish_fail_raises_the_given_exception(pm: PikaPluginManager) -> None:
    error = ValueError("schema violation")

    class Validator:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            context.fail(error)

    resolved = _publish_hooks(pm, Validator())
    with pytest.raises(ValueError, match="schema violation") as info:
        resolved.before_publish("ex", "rk", b"x", None, False)
    assert info.value is error


def test_publish_hook_that_raises_is_logged_and_its_changes_undone(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Good:  # registered first: runs after the broken one
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            context.routing_key += "-seen"

    class Broken:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            context.body = b"half-changed"
            context.exchange = "wrong"
            context.drop("never mind")
            raise RuntimeError("bug in plugin")

    pm.register(Good())
    pm.register(Broken(), name="broken-plugin")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        context = resolved.before_publish("ex", "rk", b"body", None, False)
    assert (context.exchange, context.routing_key, context.body) == ("ex", "rk-seen", b"body")
    assert not context.dropped
    (record,) = _errors(caplog)
    assert "'broken-plugin'" in record.getMessage()
    assert "pika_before_publish" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_keyboard_interrupt_is_not_swallowed(pm: PikaPluginManager) -> None:
    class Interrupted:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            raise KeyboardInterrupt

    resolved = _publish_hooks(pm, Interrupted())
    with pytest.raises(KeyboardInterrupt):
        resolved.before_publish("ex", "rk", b"x", None, False)


def test_publish_context_repr_is_short() -> None:
    context = PublishContext(CHANNEL, "ex", "rk", b"x" * 10_000, None, False)
    assert len(repr(context)) < 120
    assert "10000 bytes" in repr(context)


# -- delivery -----------------------------------------------------------------------------------------


def test_delivery_context_exposes_the_method_fields(pm: PikaPluginManager) -> None:
    seen: list[DeliveryContext] = []

    class Watch:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            seen.append(context)

    resolved = _publish_hooks(pm, Watch())
    resolved.on_delivery(DELIVER, PROPS, b"m1")
    resolved.on_delivery(GET_OK, PROPS, b"m2")
    deliver, get_ok = seen
    assert deliver.channel is CHANNEL
    assert (deliver.consumer_tag, deliver.delivery_tag) == ("ctag", 7)
    assert (deliver.exchange, deliver.routing_key, deliver.redelivered) == ("ex", "rk", True)
    assert get_ok.consumer_tag is None
    assert (get_ok.delivery_tag, get_ok.routing_key, get_ok.redelivered) == (3, "q", False)


def test_delivery_change_and_drop(pm: PikaPluginManager) -> None:
    class Decrypt:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            if context.body == b"poison":
                context.drop("poison message", requeue=True)
            else:
                context.body = context.body[::-1]
                context.properties = None

    resolved = _publish_hooks(pm, Decrypt())
    changed = resolved.on_delivery(DELIVER, PROPS, b"abc")
    assert (changed.body, changed.properties, changed.dropped) == (b"cba", None, False)
    dropped = resolved.on_delivery(DELIVER, PROPS, b"poison")
    assert dropped.dropped
    assert dropped.requeue is True
    assert dropped.reason == "poison message"


def test_delivery_hook_that_raises_delivers_unchanged(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            context.body = b"garbled"
            context.drop("x", requeue=True)
            raise ZeroDivisionError

    pm.register(Broken(), name="broken")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        context = resolved.on_delivery(DELIVER, PROPS, b"original")
    assert (context.body, context.properties) == (b"original", PROPS)
    assert not context.dropped
    assert not context.requeue
    (record,) = _errors(caplog)
    assert "'broken'" in record.getMessage()
    assert "pika_on_delivery" in record.getMessage()


# -- return -------------------------------------------------------------------------------------------


def test_return_context_and_drop(pm: PikaPluginManager) -> None:
    class Quiet:
        @hookimpl
        def pika_on_return(self, context: ReturnContext) -> None:
            assert (context.reply_code, context.reply_text) == (312, "NO_ROUTE")
            if context.body == b"ignore":
                context.drop("expected to be unroutable")
            else:
                context.body = b"annotated " + context.body

    resolved = _publish_hooks(pm, Quiet())
    kept = resolved.on_return(RETURN, PROPS, b"m")
    assert (kept.dropped, kept.body, kept.method, kept.channel) == (
        False,
        b"annotated m",
        RETURN,
        CHANNEL,
    )
    dropped = resolved.on_return(RETURN, PROPS, b"ignore")
    assert dropped.dropped
    assert dropped.reason == "expected to be unroutable"


def test_return_hook_that_raises_reports_unchanged(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def pika_on_return(self, context: ReturnContext) -> None:
            context.properties = None
            context.drop("x")
            raise KeyError("k")

    pm.register(Broken(), name="broken-return")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        context = resolved.on_return(RETURN, PROPS, b"m")
    assert (context.properties, context.dropped) == (PROPS, False)
    assert "'broken-return'" in _errors(caplog)[0].getMessage()


# -- confirm ------------------------------------------------------------------------------------------


def test_confirm_context_is_read_only_and_reports_the_outcome(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ConfirmContext] = []

    class Metrics:
        @hookimpl
        def pika_on_confirm(self, context: ConfirmContext) -> None:
            seen.append(context)

    class Broken:  # newest: runs first, and must not keep Metrics from running
        @hookimpl
        def pika_on_confirm(self, context: ConfirmContext) -> None:
            raise RuntimeError("boom")

    pm.register(Metrics())
    pm.register(Broken(), name="broken-confirm")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    error = ConnectionError("lost")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        resolved.on_confirm(1, "acked")
        resolved.on_confirm(2, "nacked")
        resolved.on_confirm(3, "returned")
        resolved.on_confirm(4, "failed", error)
    assert [(c.sequence_number, c.outcome) for c in seen] == [
        (1, "acked"),
        (2, "nacked"),
        (3, "returned"),
        (4, "failed"),
    ]
    assert [(c.acked, c.nacked, c.returned) for c in seen[:3]] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert seen[3].exception is error
    assert seen[0].channel is CHANNEL
    with pytest.raises(AttributeError):
        seen[0].outcome = "nacked"  # type: ignore[misc]
    assert len(_errors(caplog)) == 4
    assert all("'broken-confirm'" in r.getMessage() for r in _errors(caplog))


def test_hooks_without_implementations_are_cheap_no_ops(pm: PikaPluginManager) -> None:
    class OnlyDelivery:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            context.body = b"changed"

    resolved = _publish_hooks(pm, OnlyDelivery())
    context = resolved.before_publish("ex", "rk", b"same", PROPS, True)
    assert (context.body, context.properties, context.mandatory) == (b"same", PROPS, True)
    assert resolved.on_return(RETURN, PROPS, b"r").body == b"r"
    resolved.on_confirm(1, "acked")  # nothing to call, nothing raised


def test_tracing_logs_each_message_hook_call(caplog: pytest.LogCaptureFixture) -> None:
    pm = new_plugin_manager(trace_hooks=True)

    class Plugin:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            pass

    pm.register(Plugin(), name="traced-plugin")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    with caplog.at_level(logging.DEBUG, logger="pika_core.plugins"):
        resolved.before_publish("ex", "rk", b"x", None, False)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("pika_before_publish" in m and "'traced-plugin'" in m for m in messages)


# -- lifecycle ----------------------------------------------------------------------------------------


class Recorder:
    """Implements every lifecycle hook and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def pika_connection_created(self, connection: Any) -> None:
        self.calls.append(("connection_created", connection))

    @hookimpl
    def pika_connection_opened(self, connection: Any) -> None:
        self.calls.append(("connection_opened", connection))

    @hookimpl
    def pika_connection_closed(self, connection: Any, exception: BaseException) -> None:
        self.calls.append(("connection_closed", connection, exception))

    @hookimpl
    def pika_channel_opened(self, channel: Any) -> None:
        self.calls.append(("channel_opened", channel))

    @hookimpl
    def pika_channel_closed(self, channel: Any, exception: BaseException) -> None:
        self.calls.append(("channel_closed", channel, exception))


class Exploding:
    """Raises in every lifecycle hook; must never keep Recorder from hearing of the event."""

    @hookimpl
    def pika_connection_created(self, connection: Any) -> None:
        raise RuntimeError("created")

    @hookimpl
    def pika_connection_opened(self) -> None:
        raise RuntimeError("opened")

    @hookimpl
    def pika_connection_closed(self, exception: BaseException) -> None:
        raise RuntimeError("closed")

    @hookimpl
    def pika_channel_opened(self, channel: Any) -> None:
        raise RuntimeError("channel opened")

    @hookimpl
    def pika_channel_closed(self, channel: Any, exception: BaseException) -> None:
        raise RuntimeError("channel closed")


def test_lifecycle_notices_reach_every_plugin_despite_errors(
    global_pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    global_pm.register(recorder, name="recorder")
    global_pm.register(Exploding(), name="exploding")
    conn, chan = object(), object()
    conn_exc, chan_exc = ConnectionError("conn"), LookupError("chan")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        hooks.connection_created(conn)
        hooks.connection_opened(conn)
        hooks.channel_opened(chan)
        hooks.channel_closed(chan, chan_exc)
        hooks.connection_closed(conn, conn_exc)
    assert recorder.calls == [
        ("connection_created", conn),
        ("connection_opened", conn),
        ("channel_opened", chan),
        ("channel_closed", chan, chan_exc),
        ("connection_closed", conn, conn_exc),
    ]
    errors = _errors(caplog)
    assert len(errors) == 5
    assert all("'exploding'" in r.getMessage() for r in errors)
    assert [r.exc_info[1].args[0] for r in errors if r.exc_info and r.exc_info[1]] == [
        "created",
        "opened",
        "channel opened",
        "channel closed",
        "closed",
    ]


def test_lifecycle_notices_take_an_explicit_manager(pm: PikaPluginManager) -> None:
    recorder = Recorder()
    pm.register(recorder)
    conn = object()
    hooks.connection_created(conn, manager=pm)
    assert recorder.calls == [("connection_created", conn)]


# -- per-call options, delivery queue/api, settle modes ---------------------------------------------


@pytest.fixture
def call_option() -> Iterator[str]:
    seen: list[Any] = []

    def validate(value: Any) -> None:
        seen.append(value)
        if value == "bad":
            raise ValueError("test_tag must not be 'bad'")

    hooks.register_call_option("test_tag", owner="tests", validate=validate)
    yield "test_tag"
    hooks.unregister_call_option("test_tag")


def test_contexts_share_one_empty_options_mapping() -> None:
    publish = PublishContext(CHANNEL, "ex", "rk", b"x", None, False)
    delivery = DeliveryContext(CHANNEL, DELIVER, None, b"x")
    assert publish.options is hooks.NO_OPTIONS is delivery.options
    assert dict(hooks.NO_OPTIONS) == {}
    with pytest.raises(TypeError):
        hooks.NO_OPTIONS["x"] = 1  # type: ignore[index]
    assert (delivery.queue, delivery.api) == (None, "basic_consume")


def test_options_queue_and_api_reach_the_hooks(pm: PikaPluginManager) -> None:
    seen: list[Any] = []

    class Plugin:
        @hookimpl
        def pika_before_publish(self, context: PublishContext) -> None:
            seen.append(dict(context.options))

        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            seen.append((context.queue, context.api, dict(context.options)))

    pm.register(Plugin())
    message_hooks = MessageHooks.for_channel(CHANNEL, pm)
    assert message_hooks is not None
    message_hooks.before_publish("ex", "rk", b"x", None, False, {"test_tag": 1})
    message_hooks.on_delivery(GET_OK, None, b"x", "q", "basic_get", {"test_tag": 2})
    assert seen == [{"test_tag": 1}, ("q", "basic_get", {"test_tag": 2})]


def test_check_call_options_accepts_registered_names_and_validates(call_option: str) -> None:
    hooks.check_call_options("basic_publish", {call_option: "good"})
    with pytest.raises(ValueError, match="must not be 'bad'"):
        hooks.check_call_options("basic_get", {call_option: "bad"})
    assert call_option in hooks.call_options()


def test_unknown_call_option_is_a_type_error_naming_it(global_pm: PikaPluginManager) -> None:
    with pytest.raises(
        TypeError, match=r"^basic_publish\(\) got an unexpected keyword argument 'x'"
    ):
        hooks.check_call_options("basic_publish", {"x": 1})
    with pytest.raises(TypeError, match=r"consume\(\) got unexpected keyword arguments 'x', 'y'"):
        hooks.check_call_options("consume", {"x": 1, "y": 2})


def test_call_option_names_are_checked_and_owned(call_option: str) -> None:
    for bad in ("mandatory", "_private", "not an identifier", "queue"):
        with pytest.raises(ValueError):
            hooks.register_call_option(bad, owner="tests")
    with pytest.raises(ValueError, match="registered by 'tests'"):
        hooks.register_call_option(call_option, owner="someone-else")
    hooks.register_call_option(call_option, owner="tests")  # the same owner may again


def test_delivery_drop_takes_a_settle_mode(pm: PikaPluginManager) -> None:
    context = DeliveryContext(CHANNEL, DELIVER, None, b"x")
    assert context.settle == "reject"
    context.drop("why", settle="ack")
    assert (context.dropped, context.settle, context.requeue) == (True, "ack", False)
    context.drop("why", requeue=True)
    assert (context.settle, context.requeue) == ("reject", True)
    with pytest.raises(ValueError, match="settle must be one of reject, ack, none"):
        context.drop("why", settle="nack")  # type: ignore[arg-type]


def test_a_raising_delivery_hook_resets_the_settle_mode(pm: PikaPluginManager) -> None:
    class Plugin:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            context.drop("half", settle="none")
            raise RuntimeError("bug")

    pm.register(Plugin())
    message_hooks = MessageHooks.for_channel(CHANNEL, pm)
    assert message_hooks is not None
    context = message_hooks.on_delivery(DELIVER, None, b"x")
    assert not context.dropped and context.settle == "reject"


# -- settle and after-delivery ----------------------------------------------------------------------


def test_settle_context_is_one_read_only_call_per_settle(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[hooks.SettleContext] = []

    class Settles:
        @hookimpl
        def pika_on_settle(self, context: hooks.SettleContext) -> None:
            seen.append(context)

    class Broken:
        @hookimpl
        def pika_on_settle(self, context: hooks.SettleContext) -> None:
            raise RuntimeError("boom")

    pm.register(Settles())
    pm.register(Broken(), name="broken-settle")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        resolved.on_settle(5, True, "ack", False)
        resolved.on_settle(6, False, "nack", True)
        resolved.on_settle(7, False, "reject", False)
    assert [(c.delivery_tag, c.multiple, c.action, c.requeue) for c in seen] == [
        (5, True, "ack", False),
        (6, False, "nack", True),
        (7, False, "reject", False),
    ]
    assert seen[0].channel is CHANNEL
    with pytest.raises(AttributeError):
        seen[0].action = "nack"  # type: ignore[misc]
    assert len(_errors(caplog)) == 3
    assert all("'broken-settle'" in r.getMessage() for r in _errors(caplog))


def test_after_delivery_gets_the_context_and_the_exception(
    pm: PikaPluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[DeliveryContext, BaseException | None]] = []

    class After:
        @hookimpl
        def pika_after_delivery(
            self, context: DeliveryContext, exception: BaseException | None
        ) -> None:
            seen.append((context, exception))

    class OnlyException:  # pluggy lets an implementation take a subset, by name
        @hookimpl
        def pika_after_delivery(self, exception: BaseException | None) -> None:
            raise RuntimeError(f"boom after {exception!r}")

    pm.register(After())
    pm.register(OnlyException(), name="broken-after")
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None and resolved.wants_after_delivery
    context = resolved.on_delivery(DELIVER, PROPS, b"body", "q", "basic_consume")
    error = ValueError("app failed")
    with caplog.at_level(logging.ERROR, logger="pika_core.plugins"):
        resolved.after_delivery(context, None)
        resolved.after_delivery(context, error)
        resolved.after_message(DELIVER, PROPS, b"b2", "q2", "consume", hooks.NO_OPTIONS, None)
    assert seen[0] == (context, None)
    assert seen[1] == (context, error)
    rebuilt, exception = seen[2]
    assert exception is None
    assert rebuilt.method is DELIVER
    assert (rebuilt.body, rebuilt.queue, rebuilt.api, rebuilt.delivery_tag) == (
        b"b2",
        "q2",
        "consume",
        7,
    )
    assert len(_errors(caplog)) == 3
    assert "boom after ValueError" in str(_errors(caplog)[1].exc_info[1])  # type: ignore[index]


def test_settle_and_after_delivery_alone_make_message_hooks(pm: PikaPluginManager) -> None:
    class OnlySettle:
        @hookimpl
        def pika_on_settle(self) -> None:
            pass

    pm.register(OnlySettle())
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    assert not resolved.wants_after_delivery
    resolved.after_message(DELIVER, PROPS, b"", None, "basic_consume", hooks.NO_OPTIONS, None)
    resolved.on_settle(1, False, "ack", False)  # the no-argument implementation is called


def test_settle_and_after_delivery_are_no_ops_without_implementations(
    pm: PikaPluginManager,
) -> None:
    class OnlyDelivery:
        @hookimpl
        def pika_on_delivery(self, context: DeliveryContext) -> None:
            pass

    pm.register(OnlyDelivery())
    resolved = MessageHooks.for_channel(CHANNEL, pm)
    assert resolved is not None
    assert not resolved.wants_after_delivery
    resolved.on_settle(1, False, "ack", False)
    context = resolved.on_delivery(DELIVER, PROPS, b"", None)
    resolved.after_delivery(context, None)
