"""A fault-injecting TCP proxy on loopback, in-process, for the recovery tests.

A Python stand-in for Toxiproxy (no Debian package or Go toolchain here). One thread runs a
``selectors`` loop; blocking test code drives it through thread-safe methods that return once the
loop has applied the change. Each accepted client gets a :class:`ProxiedConnection` with two
directions: ``upstream`` (client to broker) and ``downstream`` (broker to client).

Faults, per connection or for every live connection at once (the ``FaultProxy`` methods):

- ``reset()``: RST both sides now (``SO_LINGER(1, 0)``), as a crashed middlebox does.
- ``blackhole(direction)``: keep the sockets, read and discard the bytes (a partition).
- ``stall(direction)``: stop reading, so TCP back-pressure builds up (a frozen peer).
- ``half_close(direction)``: send FIN that way; later bytes in that direction are discarded.
- ``cut_after(upstream=N, downstream=M)``: forward N (M) more bytes, then RST both sides.
- ``slicer(direction)``: forward in random 1-10 byte writes (a parser stress test).
- ``latency(seconds, direction)``: hold every chunk that long before forwarding it.
- ``restore()``: back to pass-through.

For new connections: ``refuse()`` (accept then RST, until ``accept()``), and ``on_connect(fn)``
to arm faults on each new connection before its first byte is forwarded. ``heal()`` undoes all.
"""

from __future__ import annotations

import collections
import errno
import queue
import random
import selectors
import socket
import struct
import threading
import time
from typing import Callable, Literal

__all__ = ["Direction", "FaultProxy", "ProxiedConnection"]

Direction = Literal["upstream", "downstream", "both"]

_LINGER_RST = struct.pack("ii", 1, 0)
# Stop reading a source while this many bytes wait to be written to its destination.
_HIGH_WATER = 256 * 1024
_RECV_SIZE = 65536


def _directions(direction: Direction) -> tuple[str, ...]:
    if direction == "both":
        return ("upstream", "downstream")
    if direction in ("upstream", "downstream"):
        return (direction,)
    raise ValueError(f"direction must be 'upstream', 'downstream' or 'both', not {direction!r}")


def _abort(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    sock.close()


class _Pipe:
    """One direction of a connection: what is read from ``src`` and written to ``dst``."""

    def __init__(self, name: str, src: socket.socket, dst: socket.socket) -> None:
        self.name = name
        self.src = src
        self.dst = dst
        self.pending: collections.deque[tuple[float, bytes]] = collections.deque()
        self.pending_bytes = 0
        self.forwarded = 0
        self.discarded = 0
        self.discard = False
        self.stalled = False
        self.latency = 0.0
        self.slice_range: tuple[int, int] | None = None
        self.slice_delay = 0.0
        self.next_slice_at = 0.0
        self.limit: int | None = None
        self.eof_in = False
        self.eof_out = False

    def wants_read(self) -> bool:
        return not (self.stalled or self.eof_in) and self.pending_bytes < _HIGH_WATER

    def ready_at(self) -> float | None:
        """When the head of ``pending`` may be written (None when nothing is pending)."""
        if not self.pending:
            return None
        return max(self.pending[0][0], self.next_slice_at)

    def restore(self) -> None:
        self.discard = self.stalled = False
        self.latency = self.slice_delay = 0.0
        self.slice_range = None
        self.limit = None


class ProxiedConnection:
    """One client connection through the proxy and its upstream peer; controls are thread-safe."""

    def __init__(
        self, proxy: FaultProxy, number: int, client: socket.socket, upstream: socket.socket
    ) -> None:
        self._proxy = proxy
        self.number = number
        self.client = client
        self.upstream = upstream
        self.client_address: tuple[str, int] = client.getpeername()
        self.upstream_local_port: int = upstream.getsockname()[1]
        self.pipes: dict[str, _Pipe] = {
            "upstream": _Pipe("upstream", client, upstream),
            "downstream": _Pipe("downstream", upstream, client),
        }
        self.closed = threading.Event()
        self.close_reason = ""
        self._cut_armed = False

    def __repr__(self) -> str:
        state = f"closed: {self.close_reason}" if self.closed.is_set() else "open"
        return (
            f"<ProxiedConnection #{self.number} {self.client_address[1]}->"
            f"{self._proxy.upstream[1]} up={self.bytes_upstream} down={self.bytes_downstream} "
            f"{state}>"
        )

    @property
    def bytes_upstream(self) -> int:
        """Bytes forwarded from the client to the broker."""
        return self.pipes["upstream"].forwarded

    @property
    def bytes_downstream(self) -> int:
        """Bytes forwarded from the broker to the client."""
        return self.pipes["downstream"].forwarded

    @property
    def bytes_discarded(self) -> int:
        """Bytes read and dropped (blackhole, half-close) in both directions."""
        return self.pipes["upstream"].discarded + self.pipes["downstream"].discarded

    @property
    def is_open(self) -> bool:
        """False once the proxy has closed or reset both sockets."""
        return not self.closed.is_set()

    # --- controls (each returns once the proxy thread applied it) -----------------------------

    def reset(self) -> None:
        """RST both the client and the upstream socket now."""
        self._proxy._call(lambda: self._shutdown("reset by test", rst=True))

    def blackhole(self, direction: Direction = "both") -> None:
        """Read and drop every byte in ``direction``; sockets stay open, no FIN, no RST."""
        names = _directions(direction)
        self._proxy._call(lambda: self._set(names, discard=True))

    def stall(self, direction: Direction = "both") -> None:
        """Stop reading in ``direction``: the sender's kernel buffers fill and it blocks."""
        names = _directions(direction)
        self._proxy._call(lambda: self._set(names, stalled=True))

    def half_close(self, direction: Direction = "downstream") -> None:
        """Send FIN in ``direction`` (``downstream``: the client reads EOF); drop later bytes."""
        names = _directions(direction)
        self._proxy._call(lambda: self._half_close(names))

    def cut_after(self, upstream: int | None = None, downstream: int | None = None) -> None:
        """Forward ``upstream``/``downstream`` more bytes (counted from now), then RST both."""
        if upstream is None and downstream is None:
            raise ValueError("cut_after needs upstream=N and/or downstream=N")
        self._proxy._call(lambda: self._cut_after(upstream, downstream))

    def slicer(
        self,
        direction: Direction = "both",
        min_size: int = 1,
        max_size: int = 10,
        delay: float = 0.0005,
    ) -> None:
        """Forward in random ``min_size``..``max_size`` byte writes, ``delay`` s apart."""
        if not 1 <= min_size <= max_size:
            raise ValueError("slicer needs 1 <= min_size <= max_size")
        names = _directions(direction)
        self._proxy._call(
            lambda: self._set(names, slice_range=(min_size, max_size), slice_delay=delay)
        )

    def latency(self, seconds: float, direction: Direction = "both") -> None:
        """Hold every chunk read in ``direction`` for ``seconds`` before forwarding it."""
        names = _directions(direction)
        self._proxy._call(lambda: self._set(names, latency=seconds))

    def restore(self) -> None:
        """Pass-through again (an armed cut is disarmed; a half-close cannot be undone)."""
        self._proxy._call(self._restore)

    # --- loop-thread side ---------------------------------------------------------------------

    def _set(self, names: tuple[str, ...], **settings: object) -> None:
        for name in names:
            for key, value in settings.items():
                setattr(self.pipes[name], key, value)

    def _restore(self) -> None:
        for pipe in self.pipes.values():
            if not pipe.eof_out:
                pipe.restore()
        self._cut_armed = False

    def _half_close(self, names: tuple[str, ...]) -> None:
        for name in names:
            pipe = self.pipes[name]
            pipe.discard = True
            pipe.pending.clear()
            pipe.pending_bytes = 0
            self._send_eof(pipe)

    def _cut_after(self, upstream: int | None, downstream: int | None) -> None:
        for name, limit in (("upstream", upstream), ("downstream", downstream)):
            if limit is not None:
                pipe = self.pipes[name]
                # Bytes already queued count against the limit too.
                pipe.limit = max(0, limit - pipe.pending_bytes)
        self._cut_armed = True
        self._check_cut()

    def _check_cut(self) -> None:
        """RST once a direction has forwarded its whole allowance."""
        if not self._cut_armed:
            return
        for pipe in self.pipes.values():
            if pipe.limit == 0 and not pipe.pending:
                self._shutdown(f"cut after the allowed {pipe.name} bytes", rst=True)
                return

    def _send_eof(self, pipe: _Pipe) -> None:
        if pipe.eof_out:
            return
        pipe.eof_out = True
        try:
            pipe.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _shutdown(self, reason: str, rst: bool) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        for sock in (self.client, self.upstream):
            self._proxy._forget(sock)
            if rst:
                _abort(sock)
            else:
                sock.close()
        self.closed.set()
        self._proxy._closed(self)

    def _on_readable(self, pipe: _Pipe, now: float) -> None:
        try:
            data = pipe.src.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # A reset from one peer is passed on as a reset to the other.
            self._shutdown(f"{pipe.name} source failed: {exc}", rst=True)
            return
        if not data:
            pipe.eof_in = True
            if not pipe.discard and not pipe.pending:
                self._send_eof(pipe)
            self._close_if_done()
            return
        if pipe.discard:
            pipe.discarded += len(data)
            return
        if pipe.limit is not None:
            allowed = data[: pipe.limit]
            pipe.discarded += len(data) - len(allowed)
            pipe.limit -= len(allowed)
            data = allowed
        if data:
            pipe.pending.append((now + pipe.latency, data))
            pipe.pending_bytes += len(data)
        self._check_cut()

    def _on_writable(self, pipe: _Pipe, now: float) -> None:
        while pipe.pending and not self.closed.is_set():
            release, chunk = pipe.pending[0]
            if release > now or pipe.next_slice_at > now:
                return
            piece = chunk
            if pipe.slice_range is not None:
                piece = chunk[: random.randint(*pipe.slice_range)]
            try:
                sent = pipe.dst.send(piece)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._shutdown(f"{pipe.name} destination failed: {exc}", rst=True)
                return
            pipe.forwarded += sent
            self._proxy._count(pipe.name, sent)
            pipe.pending_bytes -= sent
            if sent == len(chunk):
                pipe.pending.popleft()
            else:
                pipe.pending[0] = (release, chunk[sent:])
            if pipe.slice_range is not None:
                pipe.next_slice_at = now + pipe.slice_delay
                if pipe.slice_delay > 0:
                    break
            if sent < len(piece):
                return
        if not pipe.pending:
            if pipe.eof_in and not pipe.discard:
                self._send_eof(pipe)
            self._check_cut()
            self._close_if_done()

    def _close_if_done(self) -> None:
        """Close both sockets once each direction has seen EOF and has nothing left to send."""
        if all(p.eof_in and not p.pending for p in self.pipes.values()):
            self._shutdown("both sides closed", rst=False)


class FaultProxy:
    """Listen on 127.0.0.1 and forward every connection to ``upstream`` (also on loopback).

    Use as a context manager, or call ``start()`` and ``close()``. ``port`` is the listening
    port (ephemeral unless given); ``url(node_url)`` rewrites a node's AMQP URL to go through it.
    """

    def __init__(self, upstream: tuple[str, int], listen_port: int = 0) -> None:
        host = upstream[0]
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fault proxy only forwards to loopback, not {host!r}")
        self.upstream = ("127.0.0.1", upstream[1])
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", listen_port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.refused = 0
        self.upstream_failures = 0
        self.bytes_upstream = 0
        self.bytes_downstream = 0
        self._refusing = False
        self._on_connect: list[Callable[[ProxiedConnection], None]] = []
        self._live: list[ProxiedConnection] = []
        self._all: list[ProxiedConnection] = []
        self._owners: dict[socket.socket, tuple[ProxiedConnection, str]] = {}
        self._commands: queue.Queue[Callable[[], None]] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._registered: dict[socket.socket, int] = {}
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}")
        self._thread.daemon = True

    def __enter__(self) -> FaultProxy:  # noqa: PYI034 (no typing_extensions needed)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<FaultProxy 127.0.0.1:{self.port} -> {self.upstream[1]} live={len(self._live)} "
            f"accepted={self.accepted} refused={self.refused}>"
        )

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) a client connects to."""
        return ("127.0.0.1", self.port)

    def url(self, node_url: str) -> str:
        """``node_url`` (an amqp:// URL to the upstream port) rewritten to go through the proxy."""
        marker = f"127.0.0.1:{self.upstream[1]}"
        if marker not in node_url:
            raise ValueError(f"{node_url!r} does not point at the proxied {marker}")
        return node_url.replace(marker, f"127.0.0.1:{self.port}", 1)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start the proxy thread (idempotent)."""
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, close every connection (FIN) and join the thread."""
        if self._thread.is_alive():
            self._call(self._stop)
            self._thread.join(timeout=5)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    # --- observing -----------------------------------------------------------------------------

    @property
    def connections(self) -> list[ProxiedConnection]:
        """The live connections, oldest first."""
        with self._changed:
            return list(self._live)

    @property
    def history(self) -> list[ProxiedConnection]:
        """Every connection accepted and forwarded since the start, closed ones included."""
        with self._changed:
            return list(self._all)

    def wait_connections(self, count: int = 1, timeout: float = 10.0) -> list[ProxiedConnection]:
        """Wait until at least ``count`` connections are live; returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._live) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self._live)} of {count} connections through {self!r} "
                        f"after {timeout} s; did the client connect to port {self.port}?"
                    )
                self._changed.wait(remaining)
            return list(self._live)

    def wait_accepted(self, total: int, timeout: float = 30.0) -> None:
        """Wait until ``total`` connections have been accepted since the start (reconnects)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.accepted < total:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"only {self.accepted} of {total} connections accepted after {timeout} s"
                    )
                self._changed.wait(remaining)

    # --- controls over every live connection ----------------------------------------------------

    def reset_all(self) -> int:
        """RST every live connection; returns how many. New connections pass."""
        return len(self._each(lambda c: c._shutdown("reset by test", rst=True)))

    def blackhole(self, direction: Direction = "both") -> int:
        """Blackhole every live connection (see ``ProxiedConnection.blackhole``)."""
        names = _directions(direction)
        return len(self._each(lambda c: c._set(names, discard=True)))

    def stall(self, direction: Direction = "both") -> int:
        """Stall every live connection."""
        names = _directions(direction)
        return len(self._each(lambda c: c._set(names, stalled=True)))

    def half_close(self, direction: Direction = "downstream") -> int:
        """Half-close every live connection."""
        names = _directions(direction)
        return len(self._each(lambda c: c._half_close(names)))

    def cut_after(self, upstream: int | None = None, downstream: int | None = None) -> int:
        """Arm a cut on every live connection."""
        if upstream is None and downstream is None:
            raise ValueError("cut_after needs upstream=N and/or downstream=N")
        return len(self._each(lambda c: c._cut_after(upstream, downstream)))

    def slicer(
        self,
        direction: Direction = "both",
        min_size: int = 1,
        max_size: int = 10,
        delay: float = 0.0005,
    ) -> int:
        """Slice every live connection."""
        names = _directions(direction)
        setting = (min_size, max_size)
        return len(self._each(lambda c: c._set(names, slice_range=setting, slice_delay=delay)))

    def latency(self, seconds: float, direction: Direction = "both") -> int:
        """Delay every live connection."""
        names = _directions(direction)
        return len(self._each(lambda c: c._set(names, latency=seconds)))

    def restore(self) -> int:
        """Pass-through again for every live connection."""
        return len(self._each(lambda c: c._restore()))

    # --- controls over new connections ----------------------------------------------------------

    def refuse(self) -> None:
        """From now on accept each new connection and RST it at once (a port with no broker)."""
        self._call(lambda: setattr(self, "_refusing", True))

    def accept(self) -> None:
        """Forward new connections again after ``refuse()``."""
        self._call(lambda: setattr(self, "_refusing", False))

    def on_connect(self, arm: Callable[[ProxiedConnection], None]) -> None:
        """Call ``arm(connection)`` on the proxy thread for each new connection, before any byte
        is forwarded (e.g. ``lambda c: c.cut_after(upstream=50_000)``)."""
        self._call(lambda: self._on_connect.append(arm))

    def heal(self) -> None:
        """Everything back to normal: accept, drop on_connect hooks, restore live connections."""

        def heal_all() -> None:
            self._refusing = False
            self._on_connect.clear()
            for connection in list(self._live):
                connection._restore()

        self._call(heal_all)

    # --- loop thread ---------------------------------------------------------------------------

    def _call(self, command: Callable[[], None], timeout: float = 10.0) -> None:
        """Run ``command`` on the proxy thread and wait for it (inline when already there)."""
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            command()
            return
        done = threading.Event()
        failure: list[BaseException] = []

        def wrapped() -> None:
            try:
                command()
            except Exception as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                failure.append(exc)
            finally:
                done.set()

        self._commands.put(wrapped)
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass
        if not done.wait(timeout):
            raise TimeoutError(f"{self!r} did not apply a command within {timeout} s")
        if failure:
            raise failure[0]

    def _each(self, action: Callable[[ProxiedConnection], None]) -> list[ProxiedConnection]:
        touched: list[ProxiedConnection] = []

        def apply() -> None:
            for connection in list(self._live):
                if connection.is_open:
                    action(connection)
                    touched.append(connection)

        self._call(apply)
        return touched

    def _count(self, direction: str, sent: int) -> None:
        if direction == "upstream":
            self.bytes_upstream += sent
        else:
            self.bytes_downstream += sent

    def _forget(self, sock: socket.socket) -> None:
        if self._registered.pop(sock, None) is not None:
            self._selector.unregister(sock)
        self._owners.pop(sock, None)

    def _closed(self, connection: ProxiedConnection) -> None:
        with self._changed:
            if connection in self._live:
                self._live.remove(connection)
            self._changed.notify_all()

    def _stop(self) -> None:
        self._stopping = True
        for connection in list(self._live):
            connection._shutdown("proxy closed", rst=False)

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            if self._refusing:
                self.refused += 1
                _abort(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=2.0)
            except OSError:
                # Nothing listens upstream (the node is down): the client sees a reset.
                self.upstream_failures += 1
                _abort(client)
                continue
            for sock in (client, upstream):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._changed:
                self.accepted += 1
                connection = ProxiedConnection(self, self.accepted, client, upstream)
                self._live.append(connection)
                self._all.append(connection)
                self._changed.notify_all()
            self._owners[client] = (connection, "client")
            self._owners[upstream] = (connection, "upstream")
            for arm in list(self._on_connect):
                arm(connection)

    def _interest(self, connection: ProxiedConnection, side: str, now: float) -> int:
        """The selector events a socket needs now (read if its outgoing pipe may read, write
        if its incoming pipe has bytes due)."""
        outgoing = connection.pipes["upstream" if side == "client" else "downstream"]
        incoming = connection.pipes["downstream" if side == "client" else "upstream"]
        events = 0
        if outgoing.wants_read():
            events |= selectors.EVENT_READ
        ready = incoming.ready_at()
        if ready is not None and ready <= now:
            events |= selectors.EVENT_WRITE
        return events

    def _update_registrations(self, now: float) -> float:
        """Sync the selector with every socket's interest; returns the next timer deadline."""
        next_due = now + 0.5
        for sock, (connection, side) in list(self._owners.items()):
            if connection.closed.is_set():
                continue
            events = self._interest(connection, side, now)
            current = self._registered.get(sock)
            if events != (current or 0):
                if current is None:
                    self._selector.register(sock, events)
                    self._registered[sock] = events
                elif events == 0:
                    self._selector.unregister(sock)
                    del self._registered[sock]
                else:
                    self._selector.modify(sock, events)
                    self._registered[sock] = events
            for pipe in connection.pipes.values():
                ready = pipe.ready_at()
                if ready is not None and ready > now:
                    next_due = min(next_due, ready)
        return next_due

    def _run(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stopping:
            now = time.monotonic()
            next_due = self._update_registrations(now)
            for key, events in self._selector.select(max(0.0, next_due - now)):
                sock = key.fileobj
                if sock is self._listener:
                    self._accept()
                elif sock is self._wake_r:
                    self._drain_commands()
                else:
                    assert isinstance(sock, socket.socket)
                    owner = self._owners.get(sock)
                    if owner is None:
                        continue
                    connection, side = owner
                    now = time.monotonic()
                    if events & selectors.EVENT_WRITE and connection.is_open:
                        pipe = connection.pipes["downstream" if side == "client" else "upstream"]
                        connection._on_writable(pipe, now)
                    if events & selectors.EVENT_READ and connection.is_open:
                        pipe = connection.pipes["upstream" if side == "client" else "downstream"]
                        connection._on_readable(pipe, now)
            self._drain_commands()
            # Bytes whose latency or slice delay just expired are written on the next turn.
        for sock in list(self._registered):
            self._forget(sock)

    def _drain_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()
