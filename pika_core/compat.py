"""The names of pika 1.4's ``pika.compat`` that user programs still import.

pika-core itself targets Python 3 only and does not need these; they exist so that
``from pika.compat import ...`` keeps working under ``import pika_core as pika``.
"""

from __future__ import annotations

import abc
import os
import platform
import re
import socket
import sys
import time

# pika's name for the marker int that always encodes as AMQP `l` (signed 64-bit).
from pika_core.data import Long as long

__all__ = [
    "HAVE_SIGNAL",
    "LINUX_VERSION",
    "ON_LINUX",
    "ON_OSX",
    "ON_WINDOWS",
    "SOCKET_ERROR",
    "SOL_TCP",
    "AbstractBase",
    "as_bytes",
    "byte",
    "get_linux_version",
    "long",
    "nonblocking_socketpair",
    "str_or_bytes",
    "time_now",
    "to_digit",
]

ON_LINUX: bool = sys.platform.startswith("linux")
ON_OSX: bool = sys.platform == "darwin"
ON_WINDOWS: bool = sys.platform == "win32"

#: The exception socket operations raise (``socket.error`` is an alias of it).
SOCKET_ERROR = OSError

#: The socket level for TCP options (``IPPROTO_TCP`` where ``SOL_TCP`` is missing).
SOL_TCP: int = getattr(socket, "SOL_TCP", socket.IPPROTO_TCP)

#: Whether POSIX signals (and so EINTR) exist on this platform.
HAVE_SIGNAL: bool = os.name == "posix"

_LOCALHOST = "127.0.0.1"
_LOCALHOST_V6 = "::1"

#: For ``isinstance`` checks that accept text or encoded text.
str_or_bytes = (str, bytes)


class AbstractBase(metaclass=abc.ABCMeta):
    """A base class whose abstract methods must be overridden before instantiation."""

    __slots__ = ()


def time_now() -> float:
    """A monotonic clock in seconds, for timeouts that must not jump with the wall clock."""
    return time.monotonic()


def byte(*args: int) -> bytes:
    """Return the bytes with the given ordinals: ``byte(65) == b'A'``."""
    return bytes(args)


def as_bytes(value: str | bytes) -> bytes:
    """Return ``value`` as bytes, encoding a str as UTF-8."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


_LEADING_DIGITS = re.compile(r"[0-9]+")


def to_digit(value: str) -> int:
    """Return the number that ``value`` starts with ('3rc1' gives 3), or 0 if none."""
    match = _LEADING_DIGITS.match(value)
    return int(match.group()) if match else 0


def get_linux_version(release_str: str) -> tuple[int, ...]:
    """Turn a kernel release such as '5.15.0-91-generic' into (5, 15, 0)."""
    version = release_str.split("-", 1)[0]
    return tuple(to_digit(part) for part in version.split(".", 3)[:3])


#: The running Linux kernel's (major, minor, patch), or None on other systems.
LINUX_VERSION: tuple[int, ...] | None = get_linux_version(platform.release()) if ON_LINUX else None


def nonblocking_socketpair(
    family: int = socket.AF_INET, socket_type: int = socket.SOCK_STREAM, proto: int = 0
) -> tuple[socket.socket, socket.socket]:
    """Return two connected non-blocking TCP sockets over loopback (server side, client side).

    Used to wake a select loop from another thread on every platform, Windows included.
    """
    if family == socket.AF_INET:
        host = _LOCALHOST
    elif family == socket.AF_INET6:
        host = _LOCALHOST_V6
    else:
        raise ValueError("nonblocking_socketpair family must be AF_INET or AF_INET6")
    if socket_type != socket.SOCK_STREAM:
        raise ValueError("nonblocking_socketpair socket_type must be SOCK_STREAM")
    if proto != 0:
        raise ValueError("nonblocking_socketpair proto must be 0")

    listener = socket.socket(family, socket_type, proto)
    try:
        listener.bind((host, 0))
        listener.listen(1)
        address = listener.getsockname()[:2]
        client = socket.socket(family, socket_type, proto)
        try:
            client.connect(address)
            # Accept until the peer is our own client: another local process could race us.
            while True:
                server, peer = listener.accept()
                if peer[:2] == client.getsockname()[:2]:
                    break
                server.close()
        except BaseException:
            client.close()
            raise
    finally:
        listener.close()

    server.setblocking(False)
    client.setblocking(False)
    return server, client
