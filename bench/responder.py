"""The fallback RPC responder (when the C program is not built): echoes each request to its
reply_to with its correlation_id. Usage: ``python -m bench.responder HOST PORT QUEUE``."""

from __future__ import annotations

import sys
from typing import Any

import pika  # type: ignore[import-untyped]


def main(host: str, port: int, queue: str) -> None:
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))
    channel = connection.channel()
    channel.queue_declare(queue, exclusive=True, auto_delete=True)

    def on_request(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        reply = pika.BasicProperties(correlation_id=properties.correlation_id)
        ch.basic_publish("", properties.reply_to, body, reply)

    channel.basic_consume(queue, on_request, auto_ack=True)
    print("ready", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
