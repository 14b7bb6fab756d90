"""``pika-core tail``: watch live traffic of a queue or an exchange, masked where a pipeline masks.

Added to pika-core's command line through the ``pika_add_cli_commands`` hook. ``--exchange``
binds a temporary exclusive queue with ``--pattern`` (nothing is taken from other consumers);
``--queue`` consumes from an existing queue, which takes its messages from other consumers, so
it is meant for debugging queues.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from pika_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import argparse

__all__ = ["format_message", "pika_add_cli_commands", "tail_command"]

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@hookimpl
def pika_add_cli_commands(subparsers: Any) -> None:
    """Add the ``tail`` subcommand."""
    parser = subparsers.add_parser(
        "tail",
        help="print the messages passing through a queue or an exchange (pika-streamdal)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="AMQP URL (default: %(default)s)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue", help="consume from this queue (takes its messages)")
    source.add_argument("--exchange", help="bind a temporary queue to this exchange")
    parser.add_argument(
        "--pattern", default="#", help="binding key for --exchange (default: %(default)s)"
    )
    parser.add_argument("--pipeline", help="a pipeline file (JSON or YAML) applied to each message")
    parser.add_argument("--count", type=int, default=0, help="stop after N messages (0: never)")
    parser.add_argument("--max-body", type=int, default=2048, help="truncate printed bodies")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=tail_command)


def format_message(
    exchange: str,
    routing_key: str,
    headers: dict | None,  # type: ignore[type-arg]
    body: bytes,
    status: str,
    as_json: bool,
    max_body: int,
) -> str:
    """One printed line (or JSON object) for a message."""
    text = body[:max_body].decode("utf-8", "replace")
    if len(body) > max_body:
        text += f"... ({len(body)} bytes)"
    if as_json:
        return json.dumps(
            {
                "exchange": exchange,
                "routing_key": routing_key,
                "headers": {str(k): str(v) for k, v in (headers or {}).items()},
                "status": status,
                "body": text,
            }
        )
    header_text = f" headers={headers!r}" if headers else ""
    return f"[{exchange or 'amq.default'} {routing_key}]{header_text} ({status}) {text}"


def tail_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run ``tail`` until interrupted (or ``--count`` messages)."""
    from pika_core.adapters.blocking_connection import BlockingConnection
    from pika_core.parameters import URLParameters
    from pika_streamdal.context import OPERATION_TYPE_CONSUMER, Audience
    from pika_streamdal.engine import Engine

    engine = Engine()
    if args.pipeline:
        loader = Engine()
        loader.load_file(args.pipeline)
        everything: list[Any] = [p for _pattern, ps in loader.bindings() for p in ps]
        engine.set_pipelines("*", everything)
    connection = BlockingConnection(URLParameters(args.url))
    seen = 0
    try:
        channel = connection.channel()
        if args.exchange is not None:
            declared = channel.queue_declare("", exclusive=True, auto_delete=True)
            queue = declared.method.queue
            channel.queue_bind(queue, args.exchange, routing_key=args.pattern)
            name = args.exchange
        else:
            queue = name = args.queue
        audience = Audience("pika-core-tail", "rabbitmq", OPERATION_TYPE_CONSUMER, name)
        for method, properties, body in channel.consume(queue, auto_ack=True):
            result = engine.process(bytes(body), audience)
            shown = result.body if result.body is not None else body
            status = "dropped" if result.dropped else result.status
            headers = getattr(properties, "headers", None)
            out.write(
                format_message(
                    method.exchange,
                    method.routing_key,
                    headers,
                    shown,
                    status,
                    args.json,
                    args.max_body,
                )
                + "\n"
            )
            out.flush()
            seen += 1
            if args.count and seen >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
        if connection.is_open:
            connection.close()
    return 0
