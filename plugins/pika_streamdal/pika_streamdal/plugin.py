"""The hook layer: pika-core's message and lifecycle hooks run the interceptors of a connection.

Two plugin objects. The entry point (the ``pika_streamdal`` package) carries only lifecycle
hooks and the CLI hook, so a process where nothing is configured pays nothing per message: the
core's channels find no message hook. The message hooks live on :class:`MessageHooksPlugin`,
registered (once per plugin manager) by :func:`activate`, which runs by itself when a connection
with interceptors opens, and which an application calls before opening channels that it will give
interceptors later.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import weakref
from typing import Any, Iterator, Mapping, MutableMapping

from pika_core.hookspecs import hookimpl
from pika_streamdal.context import (
    InterceptOptions,
    InterceptorError,
    MessageContext,
    MessageDropped,
)
from pika_streamdal.interceptors import (
    InterceptorChain,
    Policy,
    check_interceptor,
    default_service_name,
    resolve_audience,
)

__all__ = [
    "MESSAGE_PLUGIN_NAME",
    "MessageHooksPlugin",
    "activate",
    "add_interceptor",
    "call_options",
    "interceptors_of",
    "pika_channel_closed",
    "pika_channel_opened",
    "pika_connection_closed",
    "pika_connection_created",
    "pika_connection_opened",
    "set_consumer",
]

logger = logging.getLogger("pika_streamdal")

MESSAGE_PLUGIN_NAME = "streamdal-messages"

_call_options: contextvars.ContextVar[InterceptOptions | None] = contextvars.ContextVar(
    "pika_streamdal_call_options", default=None
)


# -------------------------------------------------------------------------------------------------
# Per-connection and per-channel state
# -------------------------------------------------------------------------------------------------


class _Consumer:
    __slots__ = ("api", "options", "queue")

    def __init__(self, queue: str | None, api: str, options: InterceptOptions | None) -> None:
        self.queue = queue
        self.api = api
        self.options = options


class ConnectionState:
    """The interceptors and policies of one connection."""

    __slots__ = ("__weakref__", "chain", "closed", "namer", "params_seen", "policy", "service_name")

    def __init__(self) -> None:
        self.chain = InterceptorChain()
        self.policy = Policy()
        self.service_name = default_service_name(None)
        self.namer: Any = None
        self.closed = False
        self.params_seen: Any = None

    def configure(self, params: Any) -> None:
        """Take the options from connection parameters (once per parameters object)."""
        if params is None or params is self.params_seen:
            return
        self.params_seen = params
        self.policy = Policy(
            getattr(params, "on_error", None) or "pass_original",
            getattr(params, "drop_policy", None) or "silent",
            getattr(params, "consume_drop_action", None),
        ).validate()
        self.service_name = default_service_name(getattr(params, "service_name", None))
        self.namer = getattr(params, "audience_namer", None)
        configured = list(getattr(params, "interceptors", None) or ())
        if getattr(params, "enable_streamdal", False):
            from pika_streamdal.bridge import StreamdalInterceptor

            configured.append(StreamdalInterceptor)
        for item in configured:
            self.chain.add(_instantiate(item))


class ChannelState:
    """A channel's own interceptors, its consumers, and its connection's state."""

    __slots__ = (
        "__weakref__",
        "chain",
        "connection",
        "consumers",
        "hooked",
        "inflight",
        "number",
    )

    def __init__(self, connection: ConnectionState, number: int, hooked: bool) -> None:
        self.connection = connection
        self.chain = InterceptorChain()
        self.consumers: dict[str, _Consumer] = {}
        self.number = number
        self.hooked = hooked
        #: Deliveries handed to the application and not yet processed, by id() of their
        #: Basic.Deliver (kept alive here, so the id is not reused): (method, context).
        self.inflight: dict[int, tuple[Any, MessageContext]] = {}

    @property
    def active(self) -> bool:
        """Whether any interceptor applies to this channel."""
        return bool(self.connection.chain.interceptors or self.chain.interceptors)


def _instantiate(item: Any) -> Any:
    """An interceptor from an instance, or from a class or factory (one per connection)."""
    if isinstance(item, type) or (
        callable(item) and not callable(getattr(item, "on_publish", None))
    ):
        item = item()
    check_interceptor(item)
    return item


def _weak_map() -> MutableMapping[Any, Any]:
    return weakref.WeakKeyDictionary()


_lock = threading.RLock()
_connections: MutableMapping[Any, ConnectionState] = _weak_map()
_channels: MutableMapping[Any, ChannelState] = _weak_map()


def _params_of(connection: Any) -> Any:
    """The connection's parameters: every core facade has ``params`` before it is announced."""
    return getattr(connection, "params", None)


def _connection_state(connection: Any, create: bool) -> ConnectionState | None:
    state = _connections.get(connection)
    if state is None and create:
        with _lock:
            state = _connections.get(connection)
            if state is None:
                state = _connections[connection] = ConnectionState()
    return state


def _wants_interception(params: Any) -> bool:
    return bool(getattr(params, "interceptors", None) or getattr(params, "enable_streamdal", False))


def _channel_state(channel: Any) -> ChannelState | None:
    state = _channels.get(channel)
    if state is not None:
        return state
    connection = getattr(channel, "connection", None)
    conn_state = _connections.get(connection) if connection is not None else None
    if conn_state is None:
        return None
    with _lock:
        state = _channels.get(channel)
        if state is None:
            number = int(getattr(channel, "channel_number", 0) or 0)
            state = _channels[channel] = ChannelState(conn_state, number, True)
    return state


# -------------------------------------------------------------------------------------------------
# Public API of the hook layer
# -------------------------------------------------------------------------------------------------


def _manager() -> Any:
    from pika_core.plugins import get_plugin_manager

    return get_plugin_manager()


def is_active(manager: Any = None) -> bool:
    """Whether the message hooks are registered with ``manager`` (default: the process-wide one)."""
    manager = manager if manager is not None else _manager()
    return manager.get_plugin(MESSAGE_PLUGIN_NAME) is not None


def activate(manager: Any = None) -> None:
    """Register the message hooks (once); channels opened from now on can be intercepted."""
    manager = manager if manager is not None else _manager()
    with _lock:
        if manager.get_plugin(MESSAGE_PLUGIN_NAME) is None:
            manager.register(MessageHooksPlugin(), name=MESSAGE_PLUGIN_NAME)


def add_interceptor(target: Any, interceptor: Any) -> Any:
    """Add an interceptor to a connection (all its channels) or to one channel; returns it.

    ``connection.add_interceptor(i)`` / ``channel.add_interceptor(i)`` once the facades grow
    those methods. A channel opened before any interceptor existed in the process has no message
    hooks: call :func:`activate` before opening it.
    """
    interceptor = _instantiate(interceptor)
    if hasattr(target, "channel_number") and hasattr(target, "basic_publish"):
        channel_state = _channels.get(target)
        if channel_state is None:
            connection = getattr(target, "connection", None)
            conn_state = _connection_state(connection, True) if connection is not None else None
            if conn_state is None:
                raise TypeError(f"{target!r} has no connection attribute")
            channel_state = _channels[target] = ChannelState(
                conn_state, int(target.channel_number), is_active()
            )
        if not channel_state.hooked:
            raise RuntimeError(
                f"{target!r} was opened before pika-streamdal's message hooks were active, so "
                "the core does not call them for it; call pika_streamdal.activate() before "
                "opening the channel, or open a new channel"
            )
        channel_state.chain.add(interceptor)
        return interceptor
    activate()
    state = _connection_state(target, True)
    assert state is not None
    state.chain.add(interceptor)
    return interceptor


def interceptors_of(target: Any) -> list[Any]:
    """The interceptors that apply to a connection, or to a channel (connection's first)."""
    channel_state = _channels.get(target)
    if channel_state is not None:
        return channel_state.connection.chain.interceptors + channel_state.chain.interceptors
    state = _connections.get(target)
    return list(state.chain.interceptors) if state is not None else []


def set_consumer(
    channel: Any,
    consumer_tag: str,
    queue: str | None,
    *,
    api: str = "basic_consume",
    options: Any = None,
) -> None:
    """Override a consumer's queue, api and options (the core passes them; kept for old code)."""
    state = _channel_state(channel)
    if state is None:
        return
    state.consumers[consumer_tag] = _Consumer(queue, api, _as_options(options))


@contextlib.contextmanager
def call_options(
    intercept: InterceptOptions | None = None, *, streamdal_cfg: Any = None
) -> Iterator[InterceptOptions | None]:
    """Options for the calls made inside the ``with`` block that give no ``intercept=`` of their
    own (kept for older code; the calls take ``intercept=``/``streamdal_cfg=`` keywords)."""
    options = _as_options({"intercept": intercept, "streamdal_cfg": streamdal_cfg})
    token = _call_options.set(options)
    try:
        yield options
    finally:
        _call_options.reset(token)


def _as_options(raw: Any) -> InterceptOptions | None:
    """InterceptOptions from an instance, a {"intercept", "streamdal_cfg"} mapping, or None."""
    if raw is None or isinstance(raw, InterceptOptions):
        return raw
    if isinstance(raw, Mapping):
        if not raw:
            return None
        intercept = raw.get("intercept")
        cfg = raw.get("streamdal_cfg")
        if intercept is not None:
            if not isinstance(intercept, InterceptOptions):
                raise TypeError(
                    f"intercept= takes pika_streamdal.InterceptOptions; got {intercept!r}"
                )
            return intercept
        if cfg is not None:
            return InterceptOptions.from_streamdal_cfg(cfg)
        return None
    if hasattr(raw, "strict_errors"):
        return InterceptOptions.from_streamdal_cfg(raw)
    raise TypeError(f"expected InterceptOptions or a streamdal_cfg object; got {raw!r}")


# -------------------------------------------------------------------------------------------------
# Lifecycle hooks (the entry-point plugin)
# -------------------------------------------------------------------------------------------------


@hookimpl
def pika_connection_created(connection: Any) -> None:
    """Take the connection's interceptors from its parameters, when they are known already."""
    params = _params_of(connection)
    if _wants_interception(params):
        state = _connection_state(connection, True)
        assert state is not None
        state.configure(params)
        activate()


@hookimpl
def pika_connection_opened(connection: Any) -> None:
    """Take the interceptors from the parameters the connection opened with."""
    params = _params_of(connection)
    state = _connections.get(connection)
    if state is None and not _wants_interception(params):
        return
    state = _connection_state(connection, True)
    assert state is not None
    state.configure(params)
    activate()


@hookimpl
def pika_connection_closed(connection: Any, exception: BaseException) -> None:
    """Close the connection's interceptors (on every close path, failures included)."""
    state = _connections.pop(connection, None)
    if state is None:
        return
    state.closed = True
    with _lock:
        for channel, channel_state in list(_channels.items()):
            if channel_state.connection is state:
                _channels.pop(channel, None)
                _abandon_inflight(channel_state)
                channel_state.chain.close()
    state.chain.close()


@hookimpl
def pika_channel_opened(channel: Any) -> None:
    """Record the channel; make sure the message hooks exist for a configured connection."""
    connection = getattr(channel, "connection", None)
    conn_state = _connections.get(connection) if connection is not None else None
    if conn_state is None:
        params = _params_of(connection) if connection is not None else None
        if not _wants_interception(params):
            if is_active():
                _channels[channel] = ChannelState(
                    _connection_state(connection, True) or ConnectionState(),
                    int(getattr(channel, "channel_number", 0) or 0),
                    True,
                )
            return
        conn_state = _connection_state(connection, True)
        assert conn_state is not None
        conn_state.configure(params)
    activate()
    _channels[channel] = ChannelState(
        conn_state, int(getattr(channel, "channel_number", 0) or 0), True
    )


@hookimpl
def pika_channel_closed(channel: Any, exception: BaseException) -> None:
    """Forget the channel and close its own interceptors."""
    state = _channels.pop(channel, None)
    if state is not None:
        _abandon_inflight(state)
        state.chain.close()


def _abandon_inflight(state: ChannelState) -> None:
    """End the processing of deliveries the application never got to (the channel closed)."""
    inflight, state.inflight = state.inflight, {}
    for _method, ctx in inflight.values():
        ctx.metadata["abandoned"] = "channel closed"
        state.connection.chain.notify("after_deliver", ctx, None, extra=state.chain.interceptors)


# -------------------------------------------------------------------------------------------------
# Message hooks
# -------------------------------------------------------------------------------------------------


class MessageHooksPlugin:
    """The per-message hooks; registered by :func:`activate` only."""

    @hookimpl
    def pika_before_publish(self, context: Any) -> None:
        """Run the interceptors' on_publish; drop or fail per policy."""
        state = _channel_state(context.channel)
        if state is None or not state.active:
            return
        options = _as_options(context.options) or _call_options.get()
        if options is not None and options.skip:
            return
        conn = state.connection
        ctx = MessageContext(
            "publish",
            "basic_publish",
            context.body,
            context.properties,
            context.exchange,
            context.routing_key,
            None,
            state.number,
            mandatory=context.mandatory,
            options=options,
        )
        ctx.audience = resolve_audience(ctx, conn.service_name, conn.namer, options)
        policy = conn.policy.merged(options)
        verdict = conn.chain.run(ctx, "on_publish", policy, state.chain.interceptors)
        kind = verdict.kind
        if kind == "pass":
            if ctx.body is not context.body:
                context.body = bytes(ctx.body)
            if ctx.properties is not context.properties:
                context.properties = ctx.properties
            return
        if kind == "drop":
            logger.debug("publish to %s dropped: %s", ctx.audience, verdict.reason)
            if policy.drop_policy == "raise":
                context.fail(MessageDropped(verdict.reason, ctx))
            else:
                context.drop(verdict.reason)
            return
        exc = verdict.exc if verdict.exc is not None else InterceptorError(verdict.reason, ctx)
        context.fail(exc)

    @hookimpl
    def pika_on_delivery(self, context: Any) -> None:
        """Run the interceptors' on_deliver; keep a dropped message from the application."""
        state = _channel_state(context.channel)
        if state is None or not state.active:
            return
        method = context.method
        tag = getattr(method, "consumer_tag", None)
        consumer = state.consumers.get(tag) if tag else None
        queue = context.queue
        api = context.api
        if consumer is not None:  # set_consumer (older code) overrides what the core knows
            queue = consumer.queue if consumer.queue is not None else queue
            api = consumer.api
        options = _as_options(context.options)
        if options is None:
            options = consumer.options if consumer is not None else None
            if options is None:
                options = _call_options.get()
        if options is not None and options.skip:
            return
        self._deliver(context, state, method, tag, queue, api, options, "on_deliver")

    @hookimpl
    def pika_on_return(self, context: Any) -> None:
        """Run the interceptors' on_return (on_deliver when absent) before the return callbacks."""
        state = _channel_state(context.channel)
        if state is None or not state.active:
            return
        options = _call_options.get()
        if options is not None and options.skip:
            return
        self._deliver(context, state, context.method, None, None, "return", options, "on_return")

    @staticmethod
    def _deliver(
        context: Any,
        state: ChannelState,
        method: Any,
        tag: str | None,
        queue: str | None,
        api: str,
        options: InterceptOptions | None,
        hook: str,
    ) -> None:
        conn = state.connection
        ctx = MessageContext(
            "deliver",
            api,
            context.body,
            context.properties,
            getattr(method, "exchange", ""),
            getattr(method, "routing_key", ""),
            queue,
            state.number,
            tag,
            getattr(method, "delivery_tag", None),
            bool(getattr(method, "redelivered", False)),
            options=options,
        )
        ctx.audience = resolve_audience(ctx, conn.service_name, conn.namer, options)
        policy = conn.policy.merged(options)
        verdict = conn.chain.run(ctx, hook, policy, state.chain.interceptors)
        consumed = api == "basic_consume" or api == "consume"
        if verdict.kind == "pass":
            if ctx.body is not context.body:
                context.body = bytes(ctx.body)
            if ctx.properties is not context.properties:
                context.properties = ctx.properties
            if consumed:  # pika_after_delivery tells when the application is done with it
                state.inflight[id(method)] = (method, ctx)
            return
        if consumed:  # the application never sees it: its processing is over now
            conn.chain.notify("after_deliver", ctx, None, extra=state.chain.interceptors)
        if verdict.kind == "fail":
            logger.error(
                "interceptor failed the %s message from %s (on_error='raise'): %s; it is kept "
                "from the application and settled like a drop",
                api,
                ctx.audience,
                verdict.reason,
            )
        if api == "return":
            context.drop(verdict.reason)
            return
        action = policy.consume_drop_action or "reject"
        if verdict.kind == "fail":
            action = "reject"
        _drop_delivery(context, verdict.reason, action)

    @hookimpl
    def pika_on_confirm(self, context: Any) -> None:
        """Tell interceptors with on_confirm how a publish ended."""
        state = _channel_state(context.channel)
        if state is None or not state.active:
            return
        ctx = MessageContext(
            "publish",
            "confirm",
            b"",
            channel_number=state.number,
            delivery_tag=context.sequence_number,
        )
        ctx.metadata["outcome"] = str(context.outcome)
        state.connection.chain.notify(
            "on_confirm", ctx, context.outcome == "acked", extra=state.chain.interceptors
        )

    @hookimpl
    def pika_on_settle(self, context: Any) -> None:
        """Tell interceptors with on_settle(ctx, action) that the application settled."""
        state = _channel_state(context.channel)
        if state is None or not state.active:
            return
        ctx = MessageContext(
            "deliver",
            "settle",
            b"",
            channel_number=state.number,
            delivery_tag=context.delivery_tag,
        )
        ctx.metadata["multiple"] = "true" if context.multiple else "false"
        ctx.metadata["requeue"] = "true" if context.requeue else "false"
        state.connection.chain.notify(
            "on_settle", ctx, context.action, extra=state.chain.interceptors
        )

    @hookimpl
    def pika_after_delivery(self, context: Any, exception: BaseException | None) -> None:
        """Tell interceptors with after_deliver(ctx, exception) the application is done."""
        state = _channel_state(context.channel)
        if state is None:
            return
        entry = state.inflight.pop(id(context.method), None)
        if entry is None or entry[0] is not context.method:
            return
        state.connection.chain.notify(
            "after_deliver", entry[1], exception, extra=state.chain.interceptors
        )


def _drop_delivery(context: Any, reason: str, action: str) -> None:
    """Drop a delivery and have the core settle it per ``action`` (consume_drop_action)."""
    if action == "ack":
        context.drop(reason, requeue=False, settle="ack")
    elif action == "none":
        context.drop(reason, requeue=False, settle="none")
    else:
        context.drop(reason, requeue=action == "nack_requeue", settle="reject")
