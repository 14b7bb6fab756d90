"""A socket that counts its receive calls: how many reads a transport made for some data."""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["CountingSocket", "counting_pair"]


class CountingSocket(socket.socket):
    """A socket that counts its receive calls (recv, recv_into, recvmsg_into) in ``reads``."""

    reads = 0

    def recv(self, *args: Any) -> bytes:
        self.reads += 1
        return super().recv(*args)

    def recv_into(self, *args: Any) -> int:
        self.reads += 1
        return super().recv_into(*args)

    def recvmsg_into(self, *args: Any) -> Any:
        self.reads += 1
        return super().recvmsg_into(*args)


def counting_pair() -> tuple[CountingSocket, socket.socket]:
    """A connected pair: a non-blocking counting socket and its plain peer."""
    left, right = socket.socketpair()
    counting = CountingSocket(left.family, left.type, left.proto, fileno=left.detach())
    counting.setblocking(False)
    return counting, right
