"""The hooks a pika-core plugin may implement: each empty function's signature and docstring is
the contract.

A plugin is any object (usually a module) with functions named like the hooks below and
decorated with :data:`hookimpl`; it is registered from the ``pika_core`` entry-point group or
in-process with :func:`pika_core.plugins.register`. docs/plugins.md is the reference, one section
per hook; a test keeps it in step with this module.

Policy for hook options (so that every hook can be understood from its docstring alone):

- No hook is ``firstresult``: none of them "provides one thing". Adapters are registered by
  name, and a name given twice is settled by registration order (see pika_register_adapters).
- No hook is ``historic``: registration hooks are asked lazily, and asked again whenever a
  plugin is registered or unregistered, so a late plugin is never missed.
- Deprecations go through ``warn_on_impl`` on the spec.
- pika-core calls every implementation itself, one by one, so that one plugin's exception never
  stops another plugin or the I/O loop. Wrapper implementations (``wrapper=True``,
  ``hookwrapper=True``) therefore cannot be honoured and are rejected when the plugin is
  registered.
- Nothing is called per frame. The message hooks are called per message, and only when a plugin
  implements them: the implementations are looked up when a channel opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pluggy

if TYPE_CHECKING:
    import argparse

    from pika_core.hooks import (
        ConfirmContext,
        DeliveryContext,
        PublishContext,
        ReturnContext,
        SettleContext,
    )
    from pika_core.plugins import AdapterSpec

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "pika_add_cli_commands",
    "pika_after_delivery",
    "pika_before_publish",
    "pika_channel_closed",
    "pika_channel_opened",
    "pika_connection_closed",
    "pika_connection_created",
    "pika_connection_opened",
    "pika_on_confirm",
    "pika_on_delivery",
    "pika_on_return",
    "pika_on_settle",
    "pika_register_adapters",
]

PROJECT_NAME = "pika_core"

#: Marks a hook specification in this module.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a hook implementation in a plugin: ``@hookimpl def pika_channel_opened(channel): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------------------
# Registration: what a plugin adds to pika-core
# -------------------------------------------------------------------------------------------------


@hookspec
def pika_register_adapters() -> Sequence[AdapterSpec] | None:
    """Provide connection adapters, each under a name and a pika module path.

    Called: lazily, the first time an adapter is looked up (``pika_core.plugins.adapters()``, an
    import of a pika adapter module such as ``pika_core.adapters.tornado_connection``, the
    ``plugins`` command), and again after any plugin is registered or unregistered.
    Thread: the thread doing that lookup, usually the importing thread; never an I/O loop's
    thread in the middle of its work.

    Give connection classes as ``"module:attribute"`` strings so that discovering a plugin does
    not import its I/O framework; they are imported when the adapter is first used. When two
    plugins register the same adapter name or pika module, the one registered last wins (an
    in-process plugin over an entry point, an entry point over the built-in adapters) and a
    warning names both.

    :returns: a list of :class:`pika_core.plugins.AdapterSpec`, or None for none.

    If it raises: the error is logged with the plugin's name on the ``pika_core.plugins`` logger
    and that plugin's adapters are left out; other plugins are unaffected.
    """


@hookspec
def pika_add_cli_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add subcommands to ``python -m pika_core``.

    Called: once, when the command line is parsed, after the built-in subcommands are added.
    Thread: the main thread of the ``python -m pika_core`` process.

    Add a parser with ``subparsers.add_parser("tail", help=...)`` and bind its action with
    ``parser.set_defaults(handler=func)``; ``func(args)`` runs when the subcommand is chosen and
    its return value (an int, or None for 0) becomes the exit status.

    :param subparsers: the ``argparse`` subparsers action of the top-level parser.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the command line works without
    that plugin's subcommands (so ``python -m pika_core plugins`` can still show what is broken).
    """


# -------------------------------------------------------------------------------------------------
# Connection lifecycle
# -------------------------------------------------------------------------------------------------


@hookspec
def pika_connection_created(connection: Any) -> None:
    """A connection object was created and is about to connect.

    Called: once per connection object, at the end of its constructor, before the first socket
    is opened.
    Thread: the thread that constructed the connection.

    Every connection facade has a public ``params`` attribute, set before this hook runs: the
    parameters object (the first one to try, when several were given), where the options a
    plugin registered with :func:`pika_core.parameters.register_option` are read.

    :param connection: the connection facade (BlockingConnection, SelectConnection,
        AsyncioConnection or a plugin's connection class).
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the connection proceeds.
    """


@hookspec
def pika_connection_opened(connection: Any) -> None:
    """A connection completed the AMQP handshake and is usable.

    Called: once per successful connection.open-ok, before the application's open callback;
    after an automatic recovery, again for the same connection object, once the new protocol
    connection is open and its channels and consumers are restored, before the application's
    on_recovered callbacks (a recovery attempt that fails half-way does not call it). A lost
    connection that recovers is not reported to pika_connection_closed: a plugin that keeps
    state per connection gets this call again for a connection it already knows, and
    ``connection.params`` are the parameters of the endpoint that answered.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    :param connection: the connection facade, now open.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the connection proceeds.
    """


@hookspec
def pika_connection_closed(connection: Any, exception: BaseException) -> None:
    """A connection closed, normally or not; ``exception`` is the cause.

    Called: once per open (or failed open) connection, after its channels' pika_channel_closed
    and before the application's close callback.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    :param connection: the connection facade, now closed.
    :param exception: why it closed: ConnectionClosedByClient after ``close()``,
        ConnectionClosedByBroker, StreamLostError, AMQPHeartbeatTimeout, and so on.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name; the close still completes and the
    application's close callback still runs.
    """


# -------------------------------------------------------------------------------------------------
# Channel lifecycle
# -------------------------------------------------------------------------------------------------


@hookspec
def pika_channel_opened(channel: Any) -> None:
    """A channel opened (channel.open-ok arrived).

    Called: once per channel.open-ok, before the application's open callback and before the
    channel's message hook implementations are looked up.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    :param channel: the channel facade (Channel, BlockingChannel or a plugin's channel class).
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the channel proceeds.
    """


@hookspec
def pika_channel_closed(channel: Any, exception: BaseException) -> None:
    """A channel closed, normally or not; ``exception`` is the cause.

    Called: once per opened channel, when it closes or when its connection closes, before the
    application's close callbacks.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    :param channel: the channel facade, now closed.
    :param exception: why it closed: ChannelClosedByClient, ChannelClosedByBroker (reply code
        and text), or the connection's closing exception.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name; the close still completes.
    """


# -------------------------------------------------------------------------------------------------
# Messages: publish, delivery, return, confirm (per message; only when implemented)
# -------------------------------------------------------------------------------------------------


@hookspec
def pika_before_publish(context: PublishContext) -> None:
    """Inspect, change, drop or fail a message before it is encoded and sent.

    Called: once per ``basic_publish`` on a channel that was opened while a plugin implemented
    this hook, before any byte of the message is encoded; implementations run in registration
    order, newest first, until one drops or fails the message.
    Thread: the thread calling ``basic_publish`` (the I/O loop thread for the asynchronous
    adapters).

    Assign ``context.exchange``, ``routing_key``, ``body``, ``properties`` or ``mandatory`` to
    change what is sent; ``context.drop(reason)`` to not send it (``basic_publish`` returns
    normally); ``context.fail(exception)`` to not send it and have ``basic_publish`` raise it.
    ``context.options`` holds the call's keyword options registered with
    :func:`pika_core.hooks.register_call_option` (a shared empty mapping when none were given).

    :param context: the :class:`pika_core.hooks.PublishContext` of this message.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name, the attributes it assigned are put
    back, and the message goes on to the next implementation and is sent; the exception never
    reaches ``basic_publish`` and no partial frame is written.
    """


@hookspec
def pika_on_delivery(context: DeliveryContext) -> None:
    """Inspect, change or drop a delivered message before the application sees it.

    Called: once per Basic.Deliver (consumer) or Basic.GetOk (``basic_get``) message on a channel
    that was opened while a plugin implemented this hook, after the whole body arrived and before
    the application's callback; implementations run newest first until one drops the message.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    Assign ``context.properties`` or ``context.body`` to change what the application receives;
    ``context.drop(reason, requeue=False, settle="reject")`` to keep it from the application:
    unless the delivery is auto-acked, the core then rejects it (with ``requeue``), acks it
    (``settle="ack"``) or leaves it unsettled (``settle="none"``). ``context.queue`` and
    ``context.api`` ("basic_consume", "consume" or "basic_get") say how it was asked for, and
    ``context.options`` holds that call's registered keyword options (a consumer's options
    come with each of its deliveries).

    :param context: the :class:`pika_core.hooks.DeliveryContext` of this message.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name, the attributes it assigned are put
    back, and the message is delivered to the application; the I/O loop keeps running.
    """


@hookspec
def pika_on_return(context: ReturnContext) -> None:
    """Inspect, change or drop a message the broker returned as unroutable (Basic.Return).

    Called: once per Basic.Return on a channel that was opened while a plugin implemented this
    hook, before the application's return callbacks; implementations run newest first until one
    drops it.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    Assign ``context.properties`` or ``context.body`` to change what the return callbacks get;
    ``context.drop(reason)`` to keep it from them (in confirm mode the publish still settles as
    returned).

    :param context: the :class:`pika_core.hooks.ReturnContext` of this message.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name, the attributes it assigned are put
    back, and the return callbacks run as usual.
    """


@hookspec
def pika_on_confirm(context: ConfirmContext) -> None:
    """Learn how one publish in confirm mode ended: acked, nacked, returned or failed.

    Called: once per publish of a confirm-mode channel that was opened while a plugin implemented
    this hook, when the broker settles it (a ``multiple`` ack or nack is expanded to one call per
    publish) or when the channel dies with it unsettled; before the application hears of it.
    Thread: the connection's I/O loop thread; for BlockingConnection the thread driving it.

    The outcome is the broker's and cannot be changed or vetoed; the context is read-only.

    :param context: the :class:`pika_core.hooks.ConfirmContext` of this publish.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the outcome reaches the
    application unchanged.
    """


@hookspec
def pika_after_delivery(context: DeliveryContext, exception: BaseException | None) -> None:
    """Learn that the application finished processing a delivered message, and how.

    Called: once per message handed to the application, on a channel that was opened while a
    plugin implemented a message hook: after a ``basic_consume`` callback returns or raises
    (BlockingChannel and the asynchronous Channel), and for the ``consume()`` generator when the
    application asks for the next item or closes the generator. Not called for ``basic_get``
    (there is no callback to wait for in BlockingChannel) nor for dropped messages.
    Thread: the thread that ran the application's callback (the I/O loop thread for the
    asynchronous adapters; for BlockingConnection the thread driving it or iterating consume()).

    ``context.method`` is the same Basic.Deliver object the pika_on_delivery context carried, so
    a plugin can pair the two calls by identity; on the asynchronous Channel ``context`` is the
    very object pika_on_delivery received. The context is for reading: changing it changes
    nothing.

    :param context: the :class:`pika_core.hooks.DeliveryContext` of the message, as delivered.
    :param exception: what the callback raised (it is re-raised after the hook), an exception
        thrown into the consume() generator, or None when processing ended normally.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name; the application's exception, if
    any, propagates unchanged.
    """


@hookspec
def pika_on_settle(context: SettleContext) -> None:
    """Learn that the application settled a delivery with basic_ack, basic_nack or basic_reject.

    Called: once per ``basic_ack``/``basic_nack``/``basic_reject`` call on a channel that was
    opened while a plugin implemented a message hook, before the frame is sent (so also for a
    call that then raises because the channel closed); a ``multiple`` settle is one call, not
    one per message. The asynchronous Channel settles a dropped delivery through its own
    basic_ack/basic_reject, so those are reported too; BlockingChannel's are not.
    Thread: the thread calling the settle method.

    The context is read-only: ``delivery_tag`` (as the application gave it), ``multiple``,
    ``action`` ("ack", "nack" or "reject") and ``requeue`` (False for "ack").

    :param context: the :class:`pika_core.hooks.SettleContext` of this call.
    :returns: nothing; the return value is ignored.

    If it raises: the error is logged with the plugin's name and the settle proceeds.
    """
