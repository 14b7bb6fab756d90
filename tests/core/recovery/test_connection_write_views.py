"""The callback API's writes: a large body goes to a stream that takes buffers as views of
the body (no joined copy), and to one that takes only bytes joined, with the same bytes."""

from __future__ import annotations

from typing import Any

from test_recovery_callback_resume import ScriptedConnection

from pika_core import frame, spec
from pika_core.parameters import ConnectionParameters


class ViewTakingConnection(ScriptedConnection):
    _adapter_takes_views = True

    def __init__(self, parameters: ConnectionParameters) -> None:
        self.buffers: list[Any] = []
        super().__init__(parameters)

    def _adapter_emit_data(self, data: bytes) -> None:
        self.buffers.append(data)
        super()._adapter_emit_data(data)


def publish_large(connection: ScriptedConnection, body: bytes) -> None:
    connection.handshake()
    channels: list[Any] = []
    connection.channel(on_open_callback=channels.append)
    connection.run_timers()
    connection.reply(1, spec.Channel.OpenOk())
    connection.sent()
    channels[0].basic_publish("ex", "rk", body)
    connection.run_timers()


def test_a_large_body_reaches_a_view_taking_stream_as_views_of_itself() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: eight body frames at frame_max 131072
    viewing = ViewTakingConnection(ConnectionParameters(heartbeat=0))
    publish_large(viewing, body)
    views = [b for b in viewing.buffers if isinstance(b, memoryview)]
    assert len(views) == 8
    assert all(view.obj is body for view in views)  # no copy of the body was made
    joining = ScriptedConnection(ConnectionParameters(heartbeat=0))
    publish_large(joining, body)
    assert bytes(viewing.written) == bytes(joining.written)
    expected = frame.encode_publish(1, "ex", "rk", body, None, False, 131072)
    assert bytes(viewing.written).endswith(expected)
