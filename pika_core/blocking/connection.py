"""BlockingConnection: pika's blocking connection API over the sans-I/O protocol and one socket.

Everything happens in the caller's thread: each blocking call runs pump turns (flush, select,
read, feed) until what it waits for has arrived. Protocol events are routed to the channels as
they arrive, but user callbacks (consumers, timers, threadsafe callbacks, blocked/unblocked,
returns, cancels) run only inside ``process_data_events``, ``start_consuming``, ``consume`` and
``sleep``, and never inside another callback; blocked/unblocked callbacks also run while a
publish or a confirm wait is blocked, so that a publisher learns why it is stuck.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Sequence, Tuple, Union

from pika_core import exceptions, frame, hooks, spec
from pika_core.blocking.heartbeat_thread import HeartbeatThread
from pika_core.blocking.pump import SocketPump
from pika_core.blocking.timers import TimerQueue
from pika_core.blocking.transport import open_socket
from pika_core.capabilities import ServerCapabilities
from pika_core.parameters import ConnectionParameters, Parameters
from pika_core.protocol import ConnectionProtocol
from pika_core.protocol import events as ev
from pika_core.recovery import (
    RecoverySession,
    RecoveryTimeoutError,
    TopologyReplay,
    is_recoverable,
)

if TYPE_CHECKING:
    from pika_core.blocking.channel import BlockingChannel

__all__ = ["BlockingConnection"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")

#: Flush buffered publishes once this many bytes are waiting (one send per batch).
FLUSH_THRESHOLD = 64 * 1024
#: A publish waits (pumping I/O) while more than this many bytes cannot be written: the broker
#: is not reading (blocked connection or a slow network), so buffering more would only grow.
HIGH_WATER_MARK = 4 * 1024 * 1024
#: A publish (or ack outside a callback) that comes this long after the previous one is sent at
#: once: only back-to-back calls (a burst) are coalesced, so a lone message never waits.
BURST_GAP = 0.0002
#: Acks queued by consumer callbacks go out when the callbacks of one turn are done, or once
#: the oldest has waited this long (a slow callback must not hold earlier acks back).
ACK_DELAY = 0.001
#: The longest the heartbeat thread lets bytes sit that the caller's thread left buffered when
#: it went back to the application (the tail of a burst; every wait flushes before blocking).
LINGER = 0.002

_monotonic = time.monotonic
_DELIVERY = ev.Delivery

ParametersArg = Union[None, Parameters, Sequence[Parameters]]
_Ready = Tuple[int, bool, Callable[..., Any], Tuple[Any, ...]]


class BlockingConnection(ServerCapabilities):
    """A connection to RabbitMQ driven in the caller's thread (pika's ``BlockingConnection``).

    ``parameters`` is one ``ConnectionParameters``/``URLParameters`` or a sequence of them:
    each is tried in turn, all of them ``connection_attempts`` times (the last element's
    value) with ``retry_delay`` seconds between rounds; the last attempt's error is raised.

    Beyond pika: a heartbeat thread keeps the connection alive while the caller's thread is
    busy (a long consumer callback, a ``time.sleep``). Turn it off with the keyword argument
    ``heartbeat_thread=False`` or a ``heartbeat_thread`` attribute of the parameters set to
    False; then, as with pika, heartbeats are sent only inside calls to this connection.
    """

    def __init__(
        self,
        parameters: ParametersArg = None,
        _impl_class: Any = None,
        *,
        heartbeat_thread: bool | None = None,
    ) -> None:
        self._pump: SocketPump | None = None
        self._protocol: Any = None
        self._channels: dict[int, BlockingChannel] = {}
        #: Channels whose consumer/return/cancel events wait for dispatch (insertion ordered).
        self._pending_channels: dict[int, BlockingChannel] = {}
        #: Connection-level callbacks ready to run: (callable, args).
        #: Connection-level callbacks ready to run: (timer id or 0, blocked event?, callable, args).
        self._ready: collections.deque[_Ready] = collections.deque()
        self._threadsafe: collections.deque[Callable[[], Any]] = collections.deque()
        self._threadsafe_lock = threading.Lock()
        #: Set when a threadsafe callback is added: ends the recovery's wait between attempts,
        #: when there is no socket whose wake-up pair could interrupt it.
        self._threadsafe_added = threading.Event()
        self._timers = TimerQueue()
        self._dispatch_depth = 0
        #: Set whenever something arrived that a waiting process_data_events should return for.
        self._wakeup = False
        self._blocked_callbacks: list[Callable[..., Any]] = []
        self._unblocked_callbacks: list[Callable[..., Any]] = []
        self._blocked_since: float | None = None
        self._blocked_timeout: float | None = None
        #: Broker-closed channels whose ChannelClosedByBroker no blocking call has raised yet.
        self._unreported: dict[int, BaseException] = {}
        self._opened = False
        self._close_error: BaseException | None = None
        self._closing = False
        self._thread: HeartbeatThread | None = None
        self._unflushed = 0
        #: When the previous publish (or ack outside a callback) was queued (burst detection).
        self._last_publish = 0.0
        self._ack_dirty = False
        #: When the oldest ack queued by a callback and not yet sent has waited ACK_DELAY
        #: (checked after each callback).
        self._ack_due = 0.0
        self._secret_reply: Any = None
        self._server_properties: dict[str, Any] = {}
        if parameters is not None and not isinstance(parameters, Parameters):
            parameters = tuple(parameters)  # read once: a generator is not read twice
        #: The parameters in use (the first to try until a connection opens); plugins read it.
        self._params: Parameters = _first_parameters(parameters)
        #: Automatic recovery (None unless the parameters carry a RecoveryPolicy).
        self._recovery: RecoverySession | None = None
        self._recovering = False
        self._replay: TopologyReplay | None = None
        self._replay_error: BaseException | None = None
        self._next_attempt_at = 0.0
        self._heartbeat_thread_arg = heartbeat_thread
        self._finalizer: Any = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.ChannelOpened: self._on_channel_opened,
            ev.ChannelClosed: self._on_channel_closed,
            ev.RPCReply: self._on_rpc_reply,
            ev.Returned: self._on_returned,
            ev.Confirmation: self._on_confirmation,
            ev.ConsumerCancelled: self._on_consumer_cancelled,
            ev.ConnectionBlocked: self._on_blocked,
            ev.ConnectionUnblocked: self._on_unblocked,
            ev.ConnectionClosed: self._on_connection_closed,
            ev.ConnectionOpened: self._on_connection_opened,
            ev.FlowChanged: self._on_flow_changed,
        }
        hooks.connection_created(self)
        self._connect(parameters, heartbeat_thread)

    # -- opening -------------------------------------------------------------------------------

    def _connect(self, parameters: ParametersArg, heartbeat_thread: bool | None) -> None:
        """Try every set of parameters, ``connection_attempts`` rounds; raise the last error."""
        if parameters is None:
            configs: Sequence[Parameters] = (ConnectionParameters(),)
        elif isinstance(parameters, Parameters):
            configs = (parameters,)
        else:
            configs = tuple(parameters)
            if not configs:
                raise ValueError(
                    f"Expected a non-empty sequence of connection parameters, but got {parameters!r}."
                )
        rounds = configs[-1].connection_attempts
        retry_delay = configs[-1].retry_delay
        last_error: BaseException | None = None
        for attempt in range(rounds):
            if attempt:
                time.sleep(retry_delay)
            for params in configs:
                try:
                    self._open(params, heartbeat_thread)
                    policy = getattr(params, "recovery", None)
                    if policy is not None:
                        self._recovery = RecoverySession(policy, configs)
                        self._recovery.set_current(params)
                    return
                except (exceptions.AMQPError, OSError) as exc:
                    LOGGER.warning(
                        "connection attempt to %s:%s failed: %r", params.host, params.port, exc
                    )
                    last_error = exc
        assert last_error is not None
        raise last_error

    def _open(
        self, params: Parameters, heartbeat_thread: bool | None, recovering: bool = False
    ) -> None:
        """One attempt: socket, protocol handshake within stack_timeout, heartbeat thread."""
        stack_timeout = params.stack_timeout
        deadline = time.monotonic() + stack_timeout if stack_timeout is not None else None
        sock = open_socket(params, deadline)
        protocol = _new_protocol(params, self)
        pump = SocketPump(sock, protocol)
        self._protocol = protocol
        self._pump = pump
        self._close_error = None
        self._opened = False
        self._params = params
        try:
            protocol.connect()
            while not self._opened:
                timeout = None
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        raise exceptions.AMQPConnectionError(
                            f"stack_timeout ({stack_timeout} s) expired during the AMQP "
                            f"handshake with {params.host}:{params.port}; is it a RabbitMQ port?"
                        )
                for event in pump.turn(timeout):
                    if type(event) is ev.ConnectionOpened:
                        self._on_connection_opened(event)
                    elif type(event) is ev.ConnectionClosed:
                        raise event.exception
        except BaseException:
            pump.close_socket()
            self._pump = None
            raise
        self._blocked_timeout = params.blocked_connection_timeout
        if heartbeat_thread is None:
            heartbeat_thread = bool(getattr(params, "heartbeat_thread", True))
        if heartbeat_thread:
            interval = float(_negotiated(protocol, "heartbeat"))
            self._thread = HeartbeatThread(pump, interval, LINGER)
            self._thread.start()
        # An unclosed, forgotten connection must not live on through its heartbeat thread.
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _release, self._thread, pump)
        LOGGER.info("Connection opened to %s:%s", params.host, params.port)
        if not recovering:  # a recovery tells the plugins once its topology is replayed
            hooks.connection_opened(self)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<{self.__class__.__name__} {state} {self._params.host}:{self._params.port}>"

    @property
    def params(self) -> Parameters:
        """The connection parameters in use (the ones that opened the current connection)."""
        return self._params

    def __enter__(self) -> BlockingConnection:  # noqa: PYI034 - Self needs typing_extensions on 3.8
        return self

    def __exit__(self, exc_type: object, value: object, traceback: object) -> None:
        if self.is_open:
            self.close()

    # -- protocol events -----------------------------------------------------------------------

    def _process(self, events: list[Any]) -> None:
        """Route protocol events to their channels (no user code runs here)."""
        channels = self._channels
        handlers = self._handlers
        replay = self._replay
        if replay is not None:
            now = time.monotonic()
            events = [event for event in events if not replay.on_event(event, now)]
        delivery = _DELIVERY
        for event in events:
            if type(event) is delivery:
                number, method, properties, body = event
                channel = channels.get(number)
                if channel is not None:
                    channel._on_delivery(method, properties, body)
            else:
                handlers[type(event)](event)

    def _on_connection_opened(self, event: Any) -> None:
        self._opened = True
        self._server_properties = dict(event.server_properties or {})

    def _on_channel_opened(self, event: Any) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_opened()

    def _on_channel_closed(self, event: Any) -> None:
        exc = event.exception
        if self._will_recover(exc) or (
            self._recovering
            and event.channel in self._channels
            and not isinstance(exc, exceptions.AMQPChannelError)
        ):
            return  # the connection is lost: the channel waits for the recovery
        channel = self._channels.pop(event.channel, None)
        if channel is None:
            return
        if self._recovery is not None:
            self._recovery.topology.channel_closed(event.channel)
        channel._on_closed(exc)
        if isinstance(exc, exceptions.ChannelClosedByBroker):
            self._unreported[event.channel] = exc
            self._wakeup = True

    def _on_rpc_reply(self, event: Any) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._reply = event
            if self._recovery is not None:
                self._recovery.topology.record_reply(event.channel, event.request, event.method)
        elif event.channel == 0:
            self._secret_reply = event

    def _on_returned(self, event: Any) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_returned(event.method, event.properties, event.body)

    def _on_confirmation(self, event: Any) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_confirmation(event.method)

    def _on_consumer_cancelled(self, event: Any) -> None:
        channel = self._channels.get(event.channel)
        if channel is not None:
            channel._on_consumer_cancelled(event.consumer_tag)
        if self._recovery is not None:
            self._recovery.topology.consumer_cancelled(event.channel, event.consumer_tag)

    def _on_flow_changed(self, event: Any) -> None:
        LOGGER.info("channel %s flow active=%s (broker channel.flow)", event.channel, event.active)

    def _on_blocked(self, event: Any) -> None:
        LOGGER.warning("Connection blocked by the broker: %s", event.reason)
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
        method = frame.Method(0, spec.Connection.Blocked(reason=event.reason))
        for callback in self._blocked_callbacks:
            self._ready.append((0, True, callback, (self, method)))
        self._wakeup = True

    def _on_unblocked(self, event: Any) -> None:
        LOGGER.info("Connection unblocked by the broker")
        self._blocked_since = None
        method = frame.Method(0, spec.Connection.Unblocked())
        for callback in self._unblocked_callbacks:
            self._ready.append((0, True, callback, (self, method)))
        self._wakeup = True

    def _on_connection_closed(self, event: Any) -> None:
        exc = event.exception
        if self._recovering:
            self._attempt_lost(exc)
            return
        if self._will_recover(exc):
            self._begin_recovery(exc)
            return
        self._close_error = exc
        self._wakeup = True
        for channel in list(self._channels.values()):
            channel._on_closed(exc)
        self._channels.clear()
        self._shutdown()
        hooks.connection_closed(self, exc)
        if isinstance(exc, exceptions.ConnectionClosedByClient):
            LOGGER.info("Connection closed: %r", exc)
        else:
            LOGGER.error("Connection lost: %r", exc)

    def _shutdown(self) -> None:
        """Release the socket, stop the heartbeat thread, drop timers."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._pump is not None:
            self._pump.close_socket()
        self._timers.clear()

    # -- the wait loop -------------------------------------------------------------------------

    def _turn(self, timeout: float | None) -> None:
        """One pump turn bounded by ``timeout``, timers and the blocked-connection deadline."""
        pump = self._pump
        assert pump is not None
        due = self._timers.next_due()
        now = time.monotonic()
        if due is not None:
            until = due - now
            if timeout is None or until < timeout:
                timeout = until if until > 0 else 0.0
        blocked_deadline = None
        if self._blocked_since is not None and self._blocked_timeout is not None:
            blocked_deadline = self._blocked_since + self._blocked_timeout
            until = blocked_deadline - now
            if timeout is None or until < timeout:
                timeout = until if until > 0 else 0.0
        if self._threadsafe:
            timeout = 0.0
        self._unflushed = 0
        self._ack_dirty = False
        events = pump.turn(timeout)
        if events:
            self._process(events)
        if self._threadsafe:
            self._take_threadsafe()
        if due is not None:
            now = time.monotonic()
            for timer_id, callback in self._timers.pop_due(now):
                self._ready.append((timer_id, False, callback, ()))
                self._wakeup = True
        if (
            blocked_deadline is not None
            and self._blocked_since is not None
            and self._close_error is None
            and time.monotonic() >= blocked_deadline
        ):
            error = exceptions.ConnectionBlockedTimeout(
                f"Blocked connection timeout expired: the broker kept the connection blocked "
                f"(resource alarm) for more than {self._blocked_timeout} s"
            )
            self._process(pump.lose(error))

    def _take_threadsafe(self) -> None:
        """Queue the callbacks other threads added, for the next dispatch."""
        with self._threadsafe_lock:
            self._threadsafe_added.clear()
            pending = list(self._threadsafe)
            self._threadsafe.clear()
        if pending:
            for callback in pending:
                self._ready.append((0, False, callback, ()))
            self._wakeup = True

    def _raise_if_closed(self) -> None:
        """Raise why the connection ended, unless this client closed it on purpose."""
        error = self._close_error
        if error is not None and not self._closing:
            raise error

    def _wait(
        self,
        done: Callable[[], bool],
        timeout: float | None = None,
        recovery_wait: float | None = -1.0,
    ) -> bool:
        """Pump until ``done()`` (True) or ``timeout`` (False); raise if the connection dies.

        While the connection recovers, wait at most ``recovery_wait`` s for it (negative: the
        policy's blocking_wait; None: as long as it takes), then raise RecoveryTimeoutError.
        """
        if self._close_error is not None:
            raise exceptions.ConnectionWrongStateError(
                "The connection is closed; open a new BlockingConnection"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        blocked_callbacks = self._blocked_callbacks or self._unblocked_callbacks
        recovery_deadline: float | None = None
        while not done():
            left = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
            if self._recovering:
                if recovery_deadline is None:
                    recovery_deadline = self._recovery_deadline(recovery_wait)
                if time.monotonic() >= recovery_deadline:
                    raise RecoveryTimeoutError(
                        "the connection did not recover in time (RecoveryPolicy blocking_wait); "
                        "it goes on recovering: retry later"
                    )
                until = recovery_deadline if deadline is None else min(deadline, recovery_deadline)
                self._recover_step(until)
                if self._close_error is not None:
                    self._raise_if_closed()
                    return done()
                continue
            self._turn(left)
            if self._close_error is not None:
                self._raise_if_closed()
                return done()
            if blocked_callbacks and self._ready and self._dispatch_depth == 0:
                self._dispatch_blocked_events()
        return True

    # -- recovery ------------------------------------------------------------------------------

    def _will_recover(self, exc: BaseException) -> bool:
        """Whether losing the open connection with ``exc`` starts a recovery."""
        return (
            self._recovery is not None
            and not self._recovering
            and not self._closing
            and self._opened
            and isinstance(exc, exceptions.AMQPConnectionError)
            and is_recoverable(exc)
        )

    def _recovery_deadline(self, recovery_wait: float | None) -> float:
        if recovery_wait is not None and recovery_wait < 0:
            assert self._recovery is not None
            recovery_wait = self._recovery.policy.blocking_wait
        if recovery_wait is None:
            return float("inf")
        return time.monotonic() + recovery_wait

    def _begin_recovery(self, cause: BaseException) -> None:
        """The connection was lost: keep the channels, fail what cannot survive, plan an attempt."""
        session = self._recovery
        assert session is not None
        session.begin(cause)
        self._recovering = True
        self._opened = False
        self._release_transport()
        for number, channel in list(self._channels.items()):
            if not channel._on_connection_lost(cause):
                del self._channels[number]
                session.topology.channel_closed(number)
        self._next_attempt_at = time.monotonic() + session.next_delay()
        for callback in session.callbacks.started:
            self._ready.append((0, False, callback, (self, cause)))
        self._wakeup = True

    def _release_transport(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._pump is not None:
            self._pump.close_socket()

    def _attempt_lost(self, exc: BaseException) -> None:
        """The connection of a recovery attempt ended before the recovery finished."""
        self._replay_error = exc
        self._replay = None
        self._opened = False
        self._release_transport()
        # Channels already handed back by the lost attempt wait again.
        for number, channel in list(self._channels.items()):
            if not channel._recovering and not channel._on_connection_lost(exc):
                del self._channels[number]

    def _await_recovery(
        self, limit: float | None, raise_on_timeout: bool = True, until_wakeup: bool = False
    ) -> None:
        """Run the recovery for up to ``limit`` s (negative: blocking_wait; None: no limit).

        With ``until_wakeup`` (process_data_events) return early once callbacks are ready.
        """
        if not self._recovering:
            return
        deadline = self._recovery_deadline(limit)
        while self._recovering:
            if until_wakeup and self._wakeup:
                return
            if time.monotonic() >= deadline:
                if raise_on_timeout:
                    raise RecoveryTimeoutError(
                        "the connection is still recovering; retry later (RecoveryPolicy "
                        "blocking_wait bounds this wait)"
                    )
                return
            self._recover_step(deadline)
        self._raise_if_closed()

    def _recover_step(self, until: float) -> None:
        """Sleep until the next attempt is due (not past ``until``), then make that attempt."""
        session = self._recovery
        assert session is not None
        now = time.monotonic()
        if now < self._next_attempt_at:
            pause = min(self._next_attempt_at, until) - now
            # No busy loop, but a threadsafe callback ends the wait: the caller dispatches it
            # (process_data_events, sleep, start_consuming) and the recovery goes on after.
            if pause > 0 and not self._threadsafe:
                self._threadsafe_added.wait(pause)
            self._take_threadsafe()
            if time.monotonic() < self._next_attempt_at:
                return
        for params in session.pass_order():
            error = self._try_endpoint(params)
            if error is None:
                return
            if session.endpoint_failed(params, error):
                self._give_up()
                return
        if session.attempt_failed():
            self._give_up()
            return
        self._next_attempt_at = time.monotonic() + session.next_delay()

    def _try_endpoint(self, params: Parameters) -> BaseException | None:
        """Connect to ``params`` and replay the topology; None when recovered, else the error."""
        session = self._recovery
        assert session is not None
        try:
            self._open(params, self._heartbeat_thread_arg, recovering=True)
        except (exceptions.AMQPError, OSError) as exc:
            return exc
        protocol = self._protocol
        self._replay_error = None
        replay = TopologyReplay(
            protocol,
            session.topology,
            list(self._channels),
            self._on_channel_recovered,
            self._on_queue_renamed,
            session.policy.locked_queue_timeout,
            session.policy.replay_timeout,
        )
        self._replay = replay
        for channel in self._channels.values():
            channel._attach(protocol)
        with self._pump_lock():
            replay.start(time.monotonic())
        while not replay.done:
            deadline = replay.next_deadline()
            self._turn(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if self._replay is None:
                error = self._replay_error
                assert error is not None
                return error
            if deadline is not None:
                with self._pump_lock():
                    replay.tick(time.monotonic())
                error = replay.timed_out
                if error is not None:
                    # The endpoint took the connection but does not restore it: drop it; the
                    # recovery goes on with the next endpoint.
                    LOGGER.warning("Recovery attempt abandoned: %s", error)
                    assert self._pump is not None
                    self._process(self._pump.lose(error))
                    return self._replay_error or error
        self._replay = None
        self._recovering = False
        self._opened = True
        duration = session.succeeded(params)
        # Plugins hear of the new protocol connection once it is usable again (hookspecs).
        hooks.connection_opened(self)
        for callback in session.callbacks.recovered:
            self._ready.append((0, False, callback, (self, session.attempts + 1, duration)))
        self._wakeup = True
        return None

    def _on_channel_recovered(self, number: int) -> None:
        channel = self._channels.get(number)
        if channel is not None:
            channel._on_recovered()

    def _on_queue_renamed(self, old: str, new: str) -> None:
        for channel in self._channels.values():
            channel._on_queue_renamed(old, new)
        session = self._recovery
        assert session is not None
        for callback in session.callbacks.renamed:
            self._ready.append((0, False, callback, (self, old, new)))
        self._wakeup = True

    def _give_up(self) -> None:
        """Recovery failed for good: the connection ends with the last error."""
        session = self._recovery
        assert session is not None
        error = session.gave_up()
        self._recovering = False
        self._replay = None
        self._close_error = error
        for channel in list(self._channels.values()):
            channel._on_closed(error)
        self._channels.clear()
        self._shutdown()
        hooks.connection_closed(self, error)
        session.run_callbacks(session.callbacks.failed, self, error)

    def _end_recovery_by_close(self, reply_code: int, reply_text: str) -> None:
        """close() while recovering: stop, and end as closed by this client."""
        self._recovering = False
        self._replay = None
        if self._recovery is not None:
            self._recovery.active = False
        error = exceptions.ConnectionClosedByClient(reply_code, reply_text)
        self._close_error = error
        for channel in list(self._channels.values()):
            channel._on_closed(exceptions.ChannelClosedByClient(reply_code, reply_text))
        self._channels.clear()
        self._shutdown()
        hooks.connection_closed(self, error)

    def _blocking_wait(self) -> float | None:
        session = self._recovery
        return session.policy.blocking_wait if session is not None else None

    def add_on_recovery_started_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, cause)`` when a lost connection starts recovering."""
        self._recovery_callbacks(callback).started.append(callback)

    def add_on_recovered_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, attempts, duration)`` once the connection recovered."""
        self._recovery_callbacks(callback).recovered.append(callback)

    def add_on_recovery_failed_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, error)`` when the recovery gives up."""
        self._recovery_callbacks(callback).failed.append(callback)

    def add_on_queue_renamed_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, old_name, new_name)`` when a server-named queue is
        re-declared under a new name."""
        self._recovery_callbacks(callback).renamed.append(callback)

    def _recovery_callbacks(self, callback: Callable[..., Any]) -> Any:
        if not callable(callback):
            raise TypeError("callback must be callable")
        if self._recovery is None:
            raise exceptions.ConnectionWrongStateError(
                "recovery callbacks need recovery turned on: ConnectionParameters(..., "
                "recovery=pika_core.RecoveryPolicy()) or ?recovery=on in the URL"
            )
        return self._recovery.callbacks

    @property
    def is_recovering(self) -> bool:
        """Whether the connection was lost and is being recovered (pika-core only)."""
        return self._recovering

    def _dispatch_blocked_events(self) -> None:
        """Run ready blocked/unblocked callbacks (and only those) from inside a publish wait."""
        self._dispatch_depth += 1
        try:
            keep: collections.deque[_Ready] = collections.deque()
            while self._ready:
                entry = self._ready.popleft()
                if entry[1]:
                    entry[2](*entry[3])
                else:
                    keep.append(entry)
            self._ready = keep
        finally:
            self._dispatch_depth -= 1

    def _flush_publishes(self) -> None:
        """Send buffered publishes; if the socket is backed up, wait below the high-water mark."""
        pump = self._pump
        if pump is None:
            return
        self._unflushed = 0
        if pump.flush():
            return
        if pump.send_error is not None or pump.out_size() > HIGH_WATER_MARK:
            self._wait(lambda: pump.out_size() <= HIGH_WATER_MARK or pump.closed)

    def _after_publish(self, size: int) -> None:
        """Called once per publish: send a lone message at once, coalesce a burst by size.

        Back-to-back publishes stay buffered until FLUSH_THRESHOLD bytes are waiting, the caller
        waits for anything (every wait flushes first), or the heartbeat thread finds them left
        behind for LINGER s. Without the heartbeat thread every publish is sent at once, as pika
        does.
        """
        unflushed = self._unflushed + size + 64
        thread = self._thread
        if thread is None or unflushed >= FLUSH_THRESHOLD:
            self._flush_publishes()
            return
        now = _monotonic()
        if now - self._last_publish >= BURST_GAP:
            self._last_publish = now
            self._flush_publishes()
            return
        self._last_publish = now
        self._unflushed = unflushed
        thread.notify()

    def _after_ack(self) -> None:
        """Called once per ack/nack/reject: batched per dispatch turn inside a callback, else
        treated like a publish."""
        if self._dispatch_depth:
            if not self._ack_dirty:
                self._ack_dirty = True
                self._ack_due = _monotonic() + ACK_DELAY
            return
        self._after_publish(0)

    def _flush_acks(self) -> None:
        """After one consumer callback: send its acks if the oldest has waited ACK_DELAY s,
        else leave them for the end of the dispatch turn (one send for many callbacks)."""
        if _monotonic() >= self._ack_due:
            self._send_acks()
        elif not self._dispatch_depth:
            # The consume() generator: the application runs between messages, so keep the
            # heartbeat thread's promise that nothing stays buffered for long.
            thread = self._thread
            if thread is None:
                self._send_acks()
            else:
                thread.notify()

    def _send_acks(self) -> None:
        """Send what callbacks queued (acks, and publishes made in them)."""
        self._ack_dirty = False
        pump = self._pump
        if pump is not None:
            self._unflushed = 0
            pump.flush()

    # -- dispatch ------------------------------------------------------------------------------

    def _has_dispatchable(self) -> bool:
        return bool(self._ready or self._pending_channels)

    def _dispatch(self) -> None:
        """Run ready connection callbacks, then each channel's pending consumer events."""
        if self._dispatch_depth:
            return
        self._dispatch_depth += 1
        try:
            ready = self._ready
            for _ in range(len(ready)):
                if not ready:
                    break
                _timer_id, _blocked, callback, args = ready.popleft()
                callback(*args)
            pending_channels = self._pending_channels
            while pending_channels:
                number = next(iter(pending_channels))
                pending_channels.pop(number)._dispatch_events()
        finally:
            self._dispatch_depth -= 1
            # One send for the acks (and publishes) of every callback of this turn.
            if self._ack_dirty or self._unflushed:
                self._send_acks()

    def _raise_unreported(self) -> None:
        """Raise the ChannelClosedByBroker of a channel no blocking call has reported yet."""
        if self._unreported:
            number = next(iter(self._unreported))
            raise self._unreported.pop(number)

    # -- public API ----------------------------------------------------------------------------

    def add_on_connection_blocked_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, method_frame)`` on Connection.Blocked from the broker."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._blocked_callbacks.append(callback)

    def add_on_connection_unblocked_callback(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(connection, method_frame)`` on Connection.Unblocked from the broker."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._unblocked_callbacks.append(callback)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> int:
        """Run ``callback()`` after ``delay`` s, from process_data_events/start_consuming/sleep."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        return self._timers.add(time.monotonic() + delay, callback)

    def remove_timeout(self, timeout_id: int) -> None:
        """Cancel a ``call_later`` timer (also if it is due but not run yet)."""
        if self._timers.remove(timeout_id):
            return
        for entry in self._ready:
            if entry[0] == timeout_id:
                self._ready.remove(entry)
                break

    def add_callback_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` in the connection's thread soon; the one thread-safe method."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._threadsafe_lock:
            # While recovering (even between attempts, with no socket) callbacks are taken.
            if self.is_closed:
                raise exceptions.ConnectionWrongStateError(
                    "BlockingConnection.add_callback_threadsafe() called on closed or closing "
                    "connection."
                )
            self._threadsafe.append(callback)
            self._threadsafe_added.set()
            pump = self._pump
            if pump is not None:
                pump.wake()

    def update_secret(self, new_secret: str, reason: str) -> None:
        """Send Connection.UpdateSecret (for expiring tokens) and wait for UpdateSecretOk."""
        if not self.is_open:
            raise exceptions.ConnectionWrongStateError("update_secret on a closed connection")
        self._secret_reply = None
        with self._pump_lock():
            self._protocol.update_secret(new_secret, reason)
        self._wait(lambda: self._secret_reply is not None)

    def close(self, reply_code: int = 200, reply_text: str = "Normal shutdown") -> None:
        """Close every open channel (cancelling consumers), then the connection."""
        if self._recovering:
            LOGGER.info("Closing connection (%s) during recovery: %s", reply_code, reply_text)
            self._end_recovery_by_close(reply_code, reply_text)
            return
        if not self.is_open:
            msg = (
                f"{self.__class__.__name__}.close({reply_code}, {reply_text!r}) called on "
                "closed connection."
            )
            LOGGER.error(msg)
            raise exceptions.ConnectionWrongStateError(msg)
        LOGGER.info("Closing connection (%s): %s", reply_code, reply_text)
        for channel in list(self._channels.values()):
            if channel.is_open:
                try:
                    channel.close(reply_code, reply_text)
                except exceptions.ChannelClosed as exc:
                    LOGGER.warning("Got ChannelClosed while closing channel: %r", exc)
        if self._close_error is not None:
            self._raise_if_closed()
            return
        self._closing = True
        with self._pump_lock():
            events = self._protocol.close(reply_code, reply_text)
        if events:
            self._process(events)
        try:
            self._wait(lambda: self._close_error is not None)
        finally:
            self._shutdown()
            if self._close_error is None:
                self._close_error = exceptions.ConnectionClosedByClient(reply_code, reply_text)
        if not isinstance(self._close_error, exceptions.ConnectionClosedByClient):
            raise self._close_error

    def process_data_events(self, time_limit: float | None = 0) -> None:
        """Process I/O and dispatch callbacks for up to ``time_limit`` s (None: until an event)."""
        self._process_data_events(time_limit)
        self._raise_unreported()

    def _process_data_events(self, time_limit: float | None) -> None:
        if self._close_error is not None:
            raise exceptions.ConnectionWrongStateError(
                "process_data_events on a closed connection; open a new BlockingConnection"
            )
        allowed = self._dispatch_depth == 0
        self._wakeup = False
        if time_limit is None:
            self._wait(
                lambda: self._wakeup or (allowed and self._has_dispatchable()), recovery_wait=None
            )
        else:
            deadline = time.monotonic() + time_limit
            while True:
                # With callbacks already waiting, only pick up what has arrived: never block.
                ready = (allowed and self._has_dispatchable()) or self._wakeup
                left = 0.0 if ready else deadline - time.monotonic()
                if self._recovering:
                    if not ready:
                        self._await_recovery(
                            max(left, 0.0), raise_on_timeout=False, until_wakeup=True
                        )
                    if self._close_error is not None:
                        self._raise_if_closed()
                        return
                    if self._recovering or ready or time.monotonic() >= deadline:
                        break
                    continue
                self._turn(left if left > 0 else 0.0)
                if self._close_error is not None:
                    self._raise_if_closed()
                    return
                if ready or (allowed and self._has_dispatchable()) or self._wakeup:
                    break
                if time.monotonic() >= deadline:
                    break
        if allowed:
            self._dispatch()

    def sleep(self, duration: float) -> None:
        """Sleep ``duration`` s while processing I/O and dispatching callbacks."""
        if duration < 0:
            raise ValueError(f"sleep duration must not be negative, got {duration}")
        deadline = time.monotonic() + duration
        time_limit = duration
        while True:
            self.process_data_events(time_limit)
            time_limit = deadline - time.monotonic()
            if time_limit <= 0:
                break

    def channel(self, channel_number: int | None = None) -> BlockingChannel:
        """Open a channel (the lowest free number unless ``channel_number`` is given)."""
        from pika_core.blocking.channel import BlockingChannel

        if self._recovering:
            self._await_recovery(-1.0)
        if not self.is_open:
            raise exceptions.ConnectionWrongStateError(
                "channel() on a closed connection; open a new BlockingConnection"
            )
        channel_max = _negotiated(self._protocol, "channel_max") or 65535
        if channel_number is None:
            number = 1
            while number in self._channels:
                number += 1
            if number > channel_max:
                raise exceptions.NoFreeChannels()
        else:
            number = int(channel_number)
            if number in self._channels or not 1 <= number <= channel_max:
                raise exceptions.InvalidChannelNumber(number)
        channel = BlockingChannel(self, number)
        self._channels[number] = channel
        with self._pump_lock():
            self._protocol.open_channel(number)
        try:
            self._wait(lambda: channel._opened or channel._close_reason is not None)
        except BaseException:
            self._channels.pop(number, None)
            raise
        if not channel._opened:
            reason = channel._close_reason
            assert reason is not None
            self._unreported.pop(number, None)
            raise reason
        return channel

    def _pump_lock(self) -> threading.Lock:
        assert self._pump is not None
        return self._pump.lock

    @property
    def is_closed(self) -> bool:
        """Whether the connection is closed (by either side or by a failure)."""
        return self._close_error is not None or (self._pump is None and not self._recovering)

    @property
    def is_open(self) -> bool:
        """Whether the connection is open."""
        return self._opened and not self.is_closed and not self._closing

    @property
    def server_properties(self) -> dict[str, Any]:
        """The broker's connection.start server properties (product, version, capabilities)."""
        return self._server_properties


def _release(thread: HeartbeatThread | None, pump: SocketPump) -> None:
    """Finalizer of a garbage-collected connection: stop its thread, close its socket."""
    if thread is not None:
        thread.stop()
    pump.close_socket()


def _negotiated(protocol: Any, name: str) -> int:
    """A value negotiated in connection.tune (heartbeat, frame_max, channel_max)."""
    value = getattr(protocol, name, 0)
    return int(value or 0)


def _first_parameters(parameters: Any) -> Parameters:
    """The parameters tried first (the default ones when none or a bad value was given)."""
    if isinstance(parameters, Parameters):
        return parameters
    if isinstance(parameters, tuple) and parameters and isinstance(parameters[0], Parameters):
        return parameters[0]
    return ConnectionParameters()


def _new_protocol(params: Parameters, connection: BlockingConnection) -> ConnectionProtocol:
    """Build the sans-I/O protocol for one attempt from the connection parameters."""
    heartbeat: Any = params.heartbeat
    if callable(heartbeat):
        wanted = heartbeat
        owner = weakref.ref(connection)  # no cycle through the protocol

        def heartbeat(server_value: int) -> int | None:
            # pika's callable receives (connection, broker's value).
            result: int | None = wanted(owner(), server_value)
            return result

    return ConnectionProtocol(
        credentials=params.credentials,
        virtual_host=params.virtual_host,
        channel_max=params.channel_max,
        frame_max=params.frame_max,
        heartbeat=heartbeat,
        locale=params.locale,
        client_properties=params.client_properties,
    )
