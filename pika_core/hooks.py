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

Per-call options. ``basic_publish``, ``basic_consume``, ``consume`` and ``basic_get`` take
keyword-only options whose names a plugin registered with :func:`register_call_option`; the
facade checks them with :func:`check_call_options` (only when some were given) and hands them
to the hooks as ``context.options``. Without options the context holds :data:`NO_OPTIONS`,
one shared empty mapping, so nothing is allocated per message.
"""

from __future__ import annotations

import threading
import types
from typing import Any, Callable, Literal, Mapping, NamedTuple, Tuple

from pika_core.plugins import PikaPluginManager, get_plugin_manager, logger, report_hook_error

__all__ = [
    "CALL_OPTION_APIS",
    "NO_OPTIONS",
    "SETTLE_MODES",
    "CallOption",
    "ConfirmContext",
    "ConfirmOutcome",
    "DeliveryApi",
    "DeliveryContext",
    "MessageHooks",
    "PublishContext",
    "ReturnContext",
    "SettleAction",
    "SettleContext",
    "call_options",
    "channel_closed",
    "channel_opened",
    "check_call_options",
    "connection_closed",
    "connection_created",
    "connection_opened",
    "register_call_option",
    "unregister_call_option",
]

ConfirmOutcome = Literal["acked", "nacked", "returned", "failed"]
DeliveryApi = Literal["basic_consume", "consume", "basic_get"]
SettleMode = Literal["reject", "ack", "none"]
SettleAction = Literal["ack", "nack", "reject"]

#: How the core settles a dropped delivery of a manual-ack consumer (``DeliveryContext.drop``).
SETTLE_MODES: tuple[str, ...] = ("reject", "ack", "none")

#: The options of a call given none: shared, empty, read-only (nothing allocated per message).
NO_OPTIONS: Mapping[str, Any] = types.MappingProxyType({})

#: The facade methods that take per-call options.
CALL_OPTION_APIS: tuple[str, ...] = ("basic_publish", "basic_consume", "consume", "basic_get")

# Names the facade methods take themselves: an option may not shadow one.
_FACADE_ARGUMENTS = frozenset(
    {
        "self",
        "exchange",
        "routing_key",
        "body",
        "properties",
        "mandatory",
        "queue",
        "on_message_callback",
        "auto_ack",
        "exclusive",
        "consumer_tag",
        "arguments",
        "callback",
        "inactivity_timeout",
    }
)

_HookFunction = Callable[[Any], object]
_Implementations = Tuple[Tuple[str, _HookFunction], ...]
_AfterFunction = Callable[[Any, Any], object]
_AfterImplementations = Tuple[Tuple[str, _AfterFunction], ...]


# -------------------------------------------------------------------------------------------------
# Contexts: what a message hook receives
# -------------------------------------------------------------------------------------------------


class PublishContext:
    """A message on its way out; assign attributes to change it, ``drop``/``fail`` to stop it.

    ``body`` is bytes (a str given to basic_publish is encoded as UTF-8 before the hook runs);
    ``properties`` is a BasicProperties or None; ``options`` holds the call's registered
    keyword options (:data:`NO_OPTIONS` when none were given).
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
        "options",
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
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> None:
        self.channel = channel
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
        self.options = options
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

    ``method`` is the Basic.Deliver (consumer) or Basic.GetOk (basic_get) frame; ``queue`` the
    queue the application named (None when the facade does not know it); ``api`` the call that
    receives it ("basic_consume", "consume" or "basic_get"); ``options`` the registered keyword
    options of that call (a consumer's are kept with it and given with each of its deliveries).
    """

    __slots__ = (
        "_reason",
        "_requeue",
        "_settle",
        "_stopped",
        "api",
        "body",
        "channel",
        "method",
        "options",
        "properties",
        "queue",
    )

    def __init__(
        self,
        channel: Any,
        method: Any,
        properties: Any,
        body: bytes,
        queue: str | None = None,
        api: DeliveryApi = "basic_consume",
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> None:
        self.channel = channel
        self.method = method
        self.properties = properties
        self.body = body
        self.queue = queue
        self.api = api
        self.options = options
        self._stopped = False
        self._reason = ""
        self._requeue = False
        self._settle: SettleMode = "reject"

    def drop(self, reason: str, requeue: bool = False, settle: SettleMode = "reject") -> None:
        """Keep the message from the application and say how the core settles it.

        For a manual-ack delivery ``settle`` is "reject" (basic.reject with ``requeue``), "ack"
        (basic.ack: the message is done with) or "none" (not settled: the application or the
        plugin settles it by its delivery tag). Auto-ack deliveries are settled already.
        """
        if settle not in SETTLE_MODES:
            raise ValueError(f"settle must be one of {', '.join(SETTLE_MODES)}; got {settle!r}")
        self._stopped, self._reason, self._requeue, self._settle = True, reason, requeue, settle

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
    def settle(self) -> SettleMode:
        """How the core settles a dropped manual-ack delivery: "reject", "ack" or "none"."""
        return self._settle

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


class SettleContext(NamedTuple):
    """One basic_ack/basic_nack/basic_reject call of the application; read-only."""

    channel: Any
    #: The tag the application gave (0 with ``multiple``: everything outstanding).
    delivery_tag: int
    multiple: bool
    action: SettleAction
    #: Whether a nack or reject asked the broker to requeue (always False for an ack).
    requeue: bool


# -------------------------------------------------------------------------------------------------
# Per-channel callers
# -------------------------------------------------------------------------------------------------


class MessageHooks:
    """The message hook implementations of one channel, resolved when it opened."""

    __slots__ = ("_after", "_confirm", "_delivery", "_publish", "_return", "_settle", "channel")

    def __init__(
        self,
        channel: Any,
        publish: _Implementations,
        delivery: _Implementations,
        returned: _Implementations,
        confirm: _Implementations,
        settle: _Implementations = (),
        after: _AfterImplementations = (),
    ) -> None:
        self.channel = channel
        self._publish = publish
        self._delivery = delivery
        self._return = returned
        self._confirm = confirm
        self._settle = settle
        self._after = after

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
        settle = _resolve(manager, "pika_on_settle")
        after = _resolve_after(manager, "pika_after_delivery")
        if not (publish or delivery or returned or confirm or settle or after):
            return None
        return cls(channel, publish, delivery, returned, confirm, settle, after)

    def before_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any,
        mandatory: bool,
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> PublishContext:
        """Run pika_before_publish; raise what a plugin gave ``fail``; check ``.dropped``."""
        context = PublishContext(
            self.channel, exchange, routing_key, body, properties, mandatory, options
        )
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

    def on_delivery(
        self,
        method: Any,
        properties: Any,
        body: bytes,
        queue: str | None = None,
        api: DeliveryApi = "basic_consume",
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> DeliveryContext:
        """Run pika_on_delivery; when ``.dropped``, settle it per ``.settle`` unless auto_ack."""
        context = DeliveryContext(self.channel, method, properties, body, queue, api, options)
        for plugin_name, function in self._delivery:
            saved = (context.properties, context.body)
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                context.properties, context.body = saved
                context._stopped, context._reason, context._requeue = False, "", False
                context._settle = "reject"
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

    def on_settle(
        self, delivery_tag: int, multiple: bool, action: SettleAction, requeue: bool
    ) -> None:
        """Run pika_on_settle for one settle call of the application."""
        implementations = self._settle
        if not implementations:
            return
        context = SettleContext(self.channel, delivery_tag, multiple, action, requeue)
        for plugin_name, function in implementations:
            try:
                function(context)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                report_hook_error(plugin_name, "pika_on_settle", "the settle proceeds", exc)

    @property
    def wants_after_delivery(self) -> bool:
        """Whether a plugin implements pika_after_delivery (skip building its context if not)."""
        return bool(self._after)

    def after_delivery(self, context: DeliveryContext, exception: BaseException | None) -> None:
        """Run pika_after_delivery once the application's callback returned or raised."""
        for plugin_name, function in self._after:
            try:
                function(context, exception)
            except Exception as exc:  # noqa: BLE001 - policy: a plugin's error never stops a message
                report_hook_error(
                    plugin_name, "pika_after_delivery", "the application goes on", exc
                )

    def after_message(
        self,
        method: Any,
        properties: Any,
        body: bytes,
        queue: str | None,
        api: DeliveryApi,
        options: Mapping[str, Any],
        exception: BaseException | None,
    ) -> None:
        """Run pika_after_delivery for a message whose on_delivery context is gone."""
        if self._after:
            context = DeliveryContext(self.channel, method, properties, body, queue, api, options)
            self.after_delivery(context, exception)


def _resolve_after(manager: PikaPluginManager, hook_name: str) -> _AfterImplementations:
    """Like _resolve, for a hook called with (context, exception)."""
    resolved: list[tuple[str, _AfterFunction]] = []
    for impl in manager.implementations(hook_name):
        function: _AfterFunction = impl.function
        if tuple(impl.argnames) != ("context", "exception"):
            function = _by_name(impl.function, tuple(impl.argnames))
        if manager.trace_hooks:
            function = _traced_after(function, impl.plugin_name, hook_name)
        resolved.append((impl.plugin_name, function))
    return tuple(resolved)


def _by_name(call: Callable[..., object], names: tuple[str, ...]) -> _AfterFunction:
    def by_name(context: Any, exception: Any) -> object:
        given = {"context": context, "exception": exception}
        return call(**{name: given[name] for name in names})

    return by_name


def _traced_after(function: _AfterFunction, plugin_name: str, hook_name: str) -> _AfterFunction:
    def traced(context: Any, exception: Any) -> object:
        logger.debug(
            "calling %s of plugin %r with %r, %r", hook_name, plugin_name, context, exception
        )
        return function(context, exception)

    return traced


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
# Per-call options that plugins register
# -------------------------------------------------------------------------------------------------


class CallOption(NamedTuple):
    """A keyword option of basic_publish/basic_consume/consume/basic_get, added by a plugin."""

    name: str
    #: The plugin that registered it (a second plugin may not take the same name).
    owner: str
    #: ``validate(value)`` raises TypeError/ValueError for a bad value; None: any value.
    validate: Callable[[Any], object] | None


_call_options: dict[str, CallOption] = {}
_call_options_lock = threading.Lock()


def register_call_option(
    name: str, *, owner: str = "", validate: Callable[[Any], object] | None = None
) -> CallOption:
    """Let the facades' basic_publish, basic_consume, consume and basic_get take ``name=``.

    A plugin calls this when it is imported. The value reaches its message hooks as
    ``context.options[name]``; ``validate(value)`` (optional) runs in the call, so a bad value
    raises there. The same ``owner`` may register a name again (a reloaded module).
    """
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"a call option name must be a public identifier, got {name!r}")
    if name in _FACADE_ARGUMENTS:
        raise ValueError(f"{name!r} is an argument of the facade methods; choose another name")
    if validate is not None and not callable(validate):
        raise TypeError(f"validate must be callable(value), got {validate!r}")
    option = CallOption(name, owner, validate)
    with _call_options_lock:
        existing = _call_options.get(name)
        if existing is not None and existing.owner != owner:
            raise ValueError(
                f"call option {name!r} is registered by {existing.owner!r} already; "
                f"{owner!r} must choose another name"
            )
        _call_options[name] = option
    return option


def unregister_call_option(name: str) -> CallOption | None:
    """Remove a call option (for tests)."""
    with _call_options_lock:
        return _call_options.pop(name, None)


def call_options() -> dict[str, CallOption]:
    """The call options plugins registered so far, by name."""
    return dict(_call_options)


def check_call_options(api: str, options: Mapping[str, Any]) -> None:
    """TypeError naming any option no plugin registered (as Python would); run validators.

    Called by a facade only when the call got keyword options; the entry-point plugins are
    loaded before a name is declared unknown.
    """
    registry = _call_options
    unknown = [name for name in options if name not in registry]
    if unknown:
        get_plugin_manager()
        unknown = [name for name in unknown if name not in registry]
        if unknown:
            if len(unknown) == 1:
                raise TypeError(f"{api}() got an unexpected keyword argument {unknown[0]!r}")
            names = ", ".join(repr(name) for name in unknown)
            raise TypeError(f"{api}() got unexpected keyword arguments {names}")
    for name, value in options.items():
        validate = registry[name].validate
        if validate is not None:
            validate(value)


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
