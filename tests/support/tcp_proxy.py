"""A tiny loopback TCP proxy for fault tests: forwards bytes until told to blackhole them.

``blackhole()`` makes the proxy swallow everything in both directions while keeping both TCP
connections open, which is what a dead peer (a crashed host, a pulled cable) looks like to a
client: no error, no EOF, just silence. Only heartbeats can detect it.
"""

from __future__ import annotations

import selectors
import socket
import threading

__all__ = ["TcpProxy"]


class TcpProxy:
    """Listen on 127.0.0.1 (an ephemeral port) and forward each connection to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._blackholed = threading.Event()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def blackhole(self) -> None:
        """From now on drop every byte in both directions (connections stay open)."""
        self._blackholed.set()

    def close(self) -> None:
        """Stop forwarding and close every socket."""
        self._stopping.set()
        self._thread.join(timeout=5)
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        peers: dict[socket.socket, socket.socket] = {}
        while not self._stopping.is_set():
            for key, _mask in selector.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    client, _address = self._listener.accept()
                    upstream = socket.create_connection(self.target)
                    for one in (client, upstream):
                        one.setblocking(True)
                        self._sockets.append(one)
                        selector.register(one, selectors.EVENT_READ, None)
                    peers[client] = upstream
                    peers[upstream] = client
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    other = peers.pop(sock, None)
                    if other is not None and not self._blackholed.is_set():
                        try:
                            other.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    continue
                if self._blackholed.is_set():
                    continue
                try:
                    peers[sock].sendall(data)
                except (OSError, KeyError):
                    pass
        selector.close()
