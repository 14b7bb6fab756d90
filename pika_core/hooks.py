"""Calling the hooks from the core: message contexts, per-channel callers, lifecycle notices.

Facades never call ``manager.hook.pika_*`` themselves; they use this module, which calls every
implementation on its own so that one plugin's exception is logged with its name and changes
nothing else.

The per-message path. When a channel opens, the facade asks ``MessageHooks.for_channel(channel)``
once. It returns None when no plugin implements a message hook, so the facade's per-message cost
is one ``if hooks is not None``; otherwise an object that calls the implementations' functions
directly, without pluggy's generic machinery::

    hooks = self._hooks
    if hooks is not None:
        context = hooks.before_publish(exchange, routing_key, body, properties, mandatory)
        if context.dropped:      # a plugin dropped it; a failure was raised already
            return
        exchange, routing_key, body = context.exchange, context.routing_key, context.body
        properties, mandatory = context.properties, context.mandatory

Plugins registered after a channel opened apply to channels opened after that.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, NamedTuple, Tuple

from pika_core.plugins import PikaPluginManager, get_plugin_manager, logger, report_hook_error

__all__ = [
    "ConfirmContext",
    "ConfirmOutcome",
    "DeliveryContext",
    "MessageHooks",
    "PublishContext",
    "ReturnContext",
    "channel_closed",
    "channel_opened",
    "connection_closed",
    "connection_created",
    "connection_opened",
]

ConfirmOutcome = Literal["acked", "nacked", "returned", "failed"]

_HookFunction = Callable[[Any], object]
_Implementations = Tuple[Tuple[str, _HookFunction], ...]


# -------------------------------------------------------------------------------------------------
# Contexts: what a message hook receives
# -------------------------------------------------------------------------------------------------


class PublishContext:
    """A message on its way out; assign attributes to change it, ``drop``/``fail`` to stop it.

    ``body`` is bytes (a str given to basic_publish is encoded as UTF-8 before the hook runs);
    ``properties`` is a BasicProperties or None.
    """

    __slots__ = (
        "_exception",
        "_reason",
        "_stopped",
        "_stopped_by",
        "body",
        "channel",
        "exchange",
        "mandatory",
        "properties",
        "routing_key",
    )

    def __init__(
        self,
        channel: Any,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any,
        mandatory: bool,
    ) -> None:
        self.channel = channel
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
        self._stopped = False
        self._reason = ""
        self._exception: BaseException | None = None
        self._stopped_by: str | None = None

    def drop(self, reason: str) -> None:
        """Do not send the message; basic_publish returns normally. ``reason`` is for logs."""
        self._stopped, self._reason, self._exception = True, reason, None

    def fail(self, exception: BaseException) -> None:
        """Do not send the message; basic_publish raises ``exception``."""
        self._stopped, self._reason, self._exception = True, str(exception), exception

    @property
    def dropped(self) -> bool:
        """True when a plugin dropped or failed the message: it is not sent."""
        return self._stopped

    @property
    def reason(self) -> str:
        """Why the message was dropped or failed ("" while it is not)."""
        return self._reason

    @property
    def exception(self) -> BaseException | None:
        """The exception given to ``fail``, if any."""
        return self._exception

    @property
    def stopped_by(self) -> str | None:
        """The name of the plugin that dropped or failed the message."""
        return self._stopped_by

    def __repr__(self) -> str:
        return (
            f"<PublishContext exchange={self.exchange!r} routing_key={self.routing_key!r} "
            f"body={len(self.body)} bytes dropped={self._stopped}>"
        )


class DeliveryContext:
    """A message arriving for the application; assign ``properties``/``body``, or ``drop`` it.

    ``method`` is the Basic.Deliver (consumer) or Basic.GetOk (basic_get) frame.
    """

    __slots__ = ("_reason", "_requeue", "_stopped", "body", "channel", "method", "properties")

    def __init__(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.channel = channel
        self.method = method
        self.properties = properties
        self.body = body
        self._stopped = False
        self._reason = ""
        self._requeue = False

    def drop(self, reason: str, requeue: bool = False) -> None:
        """Keep the message from the application; the core rejects it (unless auto_ack)."""
        self._stopped, self._reason, self._requeue = True, reason, requeue

    @property
    def dropped(self) -> bool:
        """True when a plugin dropped the message: the application does not see it."""
        return self._stopped

    @property
    def reason(self) -> str:
        """Why the message was dropped ("" while it is not)."""
        return self._reason

    @property
    def requeue(self) -> bool:
        """Whether the core's reject of a dropped message asks the broker to requeue it."""
        return self._requeue

    @property
    def consumer_tag(self) -> str | None:
        """The consumer's tag, or None for a basic_get message."""
        return getattr(self.method, "consumer_tag", None)

    @property
    def delivery_tag(self) -> int:
        """The delivery tag the application acks with."""
        tag: int = self.method.delivery_tag
        return tag

    @property
    def exchange(self) -> str:
        """The exchange the message was published to."""
        exchange: str = self.method.exchange
        return exchange

    @property
    def routing_key(self) -> str:
        """The routing key the message was published with."""
        routing_key: str = self.method.routing_key
        return routing_key

    @property
    def redelivered(self) -> bool:
        """Whether the broker delivered this message before."""
        return bool(self.method.redelivered)


class ReturnContext:
    """A message the broker returned (Basic.Return); assign ``properties``/``body``, or ``drop``."""

    __slots__ = ("_reason", "_stopped", "body", "channel", "method", "properties")

    def __init__(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.channel = channel
        self.method = method
        self.properties = properties
        self.body = body
        self._stopped = False
        self._reason = ""

    def drop(self, reason: str) -> None:
        """Keep the returned message from the application's return callbacks."""
        self._stopped, self._reason = True, reason

    @property
    def dropped(self) -> bool:
        """True when a plugin dropped the returned message."""
        return self._stopped

    @property
    def reason(self) -> str:
        """Why the returned message was dropped ("" while it is not)."""
        return self._reason

    @property
    def reply_code(self) -> int:
        """The broker's reason code (312 NO_ROUTE, 313 NO_CONSUMERS)."""
        code: int = self.method.reply_code
        return code

    @property
    def reply_text(self) -> str:
        """The broker's reason text."""
        text: str = self.method.reply_text
        return text


class ConfirmContext(NamedTuple):
    """How one publish of a confirm-mode channel ended; read-only: the outcome is the broker's."""

    channel: Any
    #: The publish sequence number (what the channel returned for the publish).
    sequence_number: int
    outcome: ConfirmOutcome
    #: Why it failed (outcome "failed": the channel or connection died first), else None.
    exception: BaseException | None = None

    @property
    def acked(self) -> bool:
        """The broker took responsibility for the message."""
        return self.outcome == "acked"

    @property
    def nacked(self) -> bool:
        """The broker refused the message."""
        return self.outcome == "nacked"

    @property
    def returned(self) -> bool:
        """The message was unroutable and came back with Basic.Return."""
        return self.outcome == "returned"


# -------------------------------------------------------------------------------------------------
# Per-channel callers
# -------------------------------------------------------------------------------------------------


class MessageHooks:
    """The message hook implementations of one channel, resolved when it opened."""

    __slots__ = ("_confirm", "_delivery", "_publish", "_return", "channel")

    def __init__(
        self,
        channel: Any,
        publish: _Implementations,
        delivery: _Implementations,
        returned: _Implementations,
        confirm: _Implementations,
    ) -> None:
        self.channel = channel
        self._publish = publish
        self._delivery = delivery
        self._return = returned
        self._confirm = confirm

    @classmethod
    def for_channel(
        cls, channel: Any, manager: PikaPluginManager | None = None
    ) -> MessageHooks | None:
        """None when no plugin implements a message hook (call once, when the channel opens)."""
        if manager is None:
            manager = get_plugin_manager()
        publish = _resolve(manager, "pika_before_publish")
        delivery = _resolve(manager, "pika_on_delivery")
        returned = _resolve(manager, "pika_on_return")
        confirm = _resolve(manager, "pika_on_confirm")
        if not (publish or delivery or returned or confirm):
            return None
        return cls(channel, publish, delivery, returned, confirm)

    def before_publish(
        self, exchange: str, routing_key: str, body: bytes, properties: Any, mandatory: bool
    ) -> PublishContext:
        """Run pika_before_publish; raise what a plugin gave ``fail``; check ``.dropped``."""
        context = PublishContext(self.channel, exchange, routing_key, body, properties, mandatory)
        for plugin_name, function in self._publish:
            saved = (
                context.exchange,
                context.routing_key,
                context.body,
                context.properties,
                context.mandatory,
            )
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                (
                    context.exchange,
                    context.routing_key,
                    context.body,
                    context.properties,
                    context.mandatory,
                ) = saved
                context._stopped, context._reason, context._exception = False, "", None
                report_hook_error(plugin_name, "pika_before_publish", "the message is sent", exc)
                continue
            if context._stopped:
                context._stopped_by = plugin_name
                if context._exception is not None:
                    raise context._exception
                break
        return context

    def on_delivery(self, method: Any, properties: Any, body: bytes) -> DeliveryContext:
        """Run pika_on_delivery; when ``.dropped``, reject it (``.requeue``) unless auto_ack."""
        context = DeliveryContext(self.channel, method, properties, body)
        for plugin_name, function in self._delivery:
            saved = (context.properties, context.body)
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                context.properties, context.body = saved
                context._stopped, context._reason, context._requeue = False, "", False
                report_hook_error(plugin_name, "pika_on_delivery", "the message is delivered", exc)
                continue
            if context._stopped:
                break
        return context

    def on_return(self, method: Any, properties: Any, body: bytes) -> ReturnContext:
        """Run pika_on_return; when ``.dropped``, skip the application's return callbacks."""
        context = ReturnContext(self.channel, method, properties, body)
        for plugin_name, function in self._return:
            saved = (context.properties, context.body)
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                context.properties, context.body = saved
                context._stopped, context._reason = False, ""
                report_hook_error(plugin_name, "pika_on_return", "the return is reported", exc)
                continue
            if context._stopped:
                break
        return context

    def on_confirm(
        self,
        sequence_number: int,
        outcome: ConfirmOutcome,
        exception: BaseException | None = None,
    ) -> None:
        """Run pika_on_confirm for one settled (or failed) publish."""
        implementations = self._confirm
        if not implementations:
            return
        context = ConfirmContext(self.channel, sequence_number, outcome, exception)
        for plugin_name, function in implementations:
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                report_hook_error(plugin_name, "pika_on_confirm", "the outcome is reported", exc)


def _resolve(manager: PikaPluginManager, hook_name: str) -> _Implementations:
    """(plugin name, function taking the context) for each implementation, in call order."""
    resolved: list[tuple[str, _HookFunction]] = []
    for impl in manager.implementations(hook_name):
        function: _HookFunction = impl.function
        if not impl.argnames:  # pluggy lets an implementation take fewer arguments
            function = _ignoring_context(impl.function)
        if manager.trace_hooks:
            function = _traced(function, impl.plugin_name, hook_name)
        resolved.append((impl.plugin_name, function))
    return tuple(resolved)


def _ignoring_context(call: Callable[[], object]) -> _HookFunction:
    def ignoring_context(context: Any) -> object:
        return call()

    return ignoring_context


def _traced(function: _HookFunction, plugin_name: str, hook_name: str) -> _HookFunction:
    def traced(context: Any) -> object:
        logger.debug("calling %s of plugin %r with %r", hook_name, plugin_name, context)
        return function(context)

    return traced


# -------------------------------------------------------------------------------------------------
# Lifecycle notices (not per message)
# -------------------------------------------------------------------------------------------------


def connection_created(connection: Any, manager: PikaPluginManager | None = None) -> None:
    """Tell plugins a connection object exists (end of its constructor)."""
    _or_global(manager).call_each("pika_connection_created", connection=connection)


def connection_opened(connection: Any, manager: PikaPluginManager | None = None) -> None:
    """Tell plugins a connection is open (before the application's open callback)."""
    _or_global(manager).call_each("pika_connection_opened", connection=connection)


def connection_closed(
    connection: Any, exception: BaseException, manager: PikaPluginManager | None = None
) -> None:
    """Tell plugins a connection closed and why (before the application's close callback)."""
    _or_global(manager).call_each(
        "pika_connection_closed", connection=connection, exception=exception
    )


def channel_opened(channel: Any, manager: PikaPluginManager | None = None) -> None:
    """Tell plugins a channel opened (before MessageHooks.for_channel and the open callback)."""
    _or_global(manager).call_each("pika_channel_opened", channel=channel)


def channel_closed(
    channel: Any, exception: BaseException, manager: PikaPluginManager | None = None
) -> None:
    """Tell plugins a channel closed and why (before the application's close callbacks)."""
    _or_global(manager).call_each("pika_channel_closed", channel=channel, exception=exception)


def _or_global(manager: PikaPluginManager | None) -> PikaPluginManager:
    return manager if manager is not None else get_plugin_manager()
