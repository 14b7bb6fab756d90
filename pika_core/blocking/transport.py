"""Opening the socket for one set of parameters: TCP connect, socket options and TLS.

Everything here runs in the caller's thread with plain blocking calls bounded by
``socket_timeout`` (the TCP connect) and by the stack deadline (TCP + TLS + AMQP handshake).
The returned socket is non-blocking and ready for the event pump.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Any, Tuple

from pika_core import exceptions

__all__ = ["apply_tcp_options", "open_socket"]

LOGGER = logging.getLogger("pika_core.adapters.blocking_connection")

_KEEPALIVE_OPTIONS = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")
_SOL_TCP: int = getattr(socket, "SOL_TCP", socket.IPPROTO_TCP)

AddrInfo = Tuple[Any, ...]


def apply_tcp_options(sock: socket.socket, tcp_options: dict[str, int] | None) -> None:
    """Turn on TCP_NODELAY and the keepalive / user-timeout options the parameters name."""
    sock.setsockopt(_SOL_TCP, socket.TCP_NODELAY, 1)
    if not tcp_options:
        return
    if any(name in tcp_options for name in _KEEPALIVE_OPTIONS):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in tcp_options.items():
        option = getattr(socket, name, None)
        if option is None:
            LOGGER.warning("tcp_options: %s is not supported on this platform; ignored", name)
            continue
        sock.setsockopt(_SOL_TCP, option, int(value))


def _remaining(deadline: float | None, what: str) -> float | None:
    """Seconds left before ``deadline`` (None: no limit); raise once it has passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise exceptions.AMQPConnectionError(
            f"stack_timeout expired during {what}; raise stack_timeout in the connection "
            "parameters if the broker is slow to answer"
        )
    return left


def _min_timeout(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(b, a)


def _connect_tcp(
    host: str, port: int, socket_timeout: float | None, deadline: float | None
) -> socket.socket:
    """Connect to each address the host resolves to, in order; raise the last error."""
    try:
        infos: list[AddrInfo] = socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise exceptions.AMQPConnectionError(
            f"cannot resolve host {host!r}: {exc}; check the host name in the parameters"
        ) from exc
    last: BaseException | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_min_timeout(socket_timeout, _remaining(deadline, "TCP connect")))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            LOGGER.debug("TCP connect to %s:%s (%r) failed: %r", host, port, address, exc)
    assert last is not None
    raise exceptions.AMQPConnectionError(
        f"TCP connection to {host}:{port} failed: {last!r}; is the broker running and "
        "reachable there?"
    ) from last


def open_socket(params: Any, deadline: float | None) -> socket.socket:
    """Connect TCP (and TLS when ``ssl_options`` is set) for ``params``; return a non-blocking socket.

    TLS errors (for example certificate verification) are raised as the ``ssl.SSLError``
    itself, as pika raises them.
    """
    sock = _connect_tcp(params.host, params.port, params.socket_timeout, deadline)
    try:
        apply_tcp_options(sock, params.tcp_options)
        ssl_options = params.ssl_options
        if ssl_options is not None:
            sock.settimeout(_remaining(deadline, "the TLS handshake"))
            hostname = ssl_options.server_hostname or params.host
            sock = ssl_options.context.wrap_socket(sock, server_hostname=hostname)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def is_tls(sock: socket.socket) -> bool:
    """Whether reads must also drain the TLS layer's own buffer (``pending()``)."""
    return isinstance(sock, ssl.SSLSocket)
