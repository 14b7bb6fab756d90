"""A silent-peer AMQP server: it completes the handshake, then never sends another byte.

It keeps reading (so the client's writes never block) but answers nothing, not even
heartbeats: what a hung broker or a black-holed network path looks like to a client. Only
heartbeat timing can detect it. Runs on a daemon thread on 127.0.0.1 (an ephemeral port).
"""

from __future__ import annotations

import socket
import struct
import threading

from typing_extensions import Self

from pika_core import spec
from pika_core.frame import encode_method

__all__ = ["SilentPeerServer"]

_FRAME_HEAD = struct.Struct(">BHI")
_CONNECTION_OPEN = spec.Connection.Open.INDEX

SERVER_PROPERTIES = {
    "product": "silent-peer",
    "version": "0",
    "capabilities": {
        "publisher_confirms": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "connection.blocked": True,
    },
}


class SilentPeerServer:
    """Accept connections, run the AMQP handshake with ``heartbeat``, then go silent."""

    def __init__(self, heartbeat: int = 1) -> None:
        self.heartbeat = heartbeat
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port: int = self._listener.getsockname()[1]
        self._clients: list[socket.socket] = []
        self._stopped = threading.Event()
        #: Set once a client completed the handshake (connection.open-ok sent).
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-peer", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and close every socket."""
        self._stopped.set()
        try:
            self._listener.close()
        except OSError:
            pass
        for client in self._clients:
            try:
                client.close()
            except OSError:
                pass
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._clients.append(client)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(0.2)
        buffer = b""
        stage = 0  # 0: header, 1: start-ok, 2: tune-ok + open, 3: silent
        while not self._stopped.is_set():
            try:
                data = client.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            if stage == 3:
                continue  # swallow everything, answer nothing
            buffer += data
            if stage == 0 and len(buffer) >= 8:
                buffer = buffer[8:]
                client.sendall(
                    encode_method(
                        0,
                        spec.Connection.Start(
                            server_properties=SERVER_PROPERTIES,
                            mechanisms="PLAIN",
                            locales="en_US",
                        ),
                    )
                )
                stage = 1
            indexes, buffer = _complete_methods(buffer)
            for index in indexes:
                if stage == 1:
                    client.sendall(
                        encode_method(0, spec.Connection.Tune(2047, 131072, self.heartbeat))
                    )
                    stage = 2
                elif stage == 2 and index == _CONNECTION_OPEN:
                    client.sendall(encode_method(0, spec.Connection.OpenOk()))
                    self.opened.set()
                    stage = 3


def _complete_methods(buffer: bytes) -> tuple[list[int], bytes]:
    """The method indexes of the complete frames in ``buffer``, and the unparsed rest."""
    indexes: list[int] = []
    offset = 0
    while len(buffer) - offset >= 7:
        frame_type, _channel, size = _FRAME_HEAD.unpack_from(buffer, offset)
        end = offset + 7 + size + 1
        if len(buffer) < end:
            break
        if frame_type == 1:
            indexes.append(struct.unpack_from(">I", buffer, offset + 7)[0])
        offset = end
    return indexes, buffer[offset:]
