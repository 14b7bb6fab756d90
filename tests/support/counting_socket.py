"""A socket that counts its calls: how many sends and reads a transport made for some data."""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["CountingSocket", "counting_pair"]


class CountingSocket(socket.socket):
    """Counts ``send``/``sendmsg`` calls in ``sends`` (and the buffers given to sendmsg in
    ``gathered``), and receive calls (recv, recv_into, recvmsg_into) in ``reads``."""

    sends = 0
    gathered = 0
    reads = 0

    def send(self, data: Any, flags: int = 0) -> int:
        self.sends += 1
        return super().send(data, flags)

    def sendmsg(self, buffers: Any, *args: Any) -> int:
        self.sends += 1
        self.gathered += len(buffers)
        return super().sendmsg(buffers, *args)

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
