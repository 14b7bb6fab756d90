"""``pika-core tail`` is added through the core's CLI hook."""

from __future__ import annotations

import json

import pika_streamdal
from pika_streamdal.cli import format_message, tail_command

from pika_core.__main__ import build_parser
from pika_core.plugins import PikaPluginManager


def test_tail_subcommand_is_added(pika_plugin_manager: PikaPluginManager) -> None:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    parser = build_parser(pika_plugin_manager)
    args = parser.parse_args(["tail", "--exchange", "amq.topic", "--pattern", "orders.#"])
    assert args.handler is tail_command
    assert (args.exchange, args.pattern, args.queue) == ("amq.topic", "orders.#", None)


def test_format_message_text_and_json() -> None:
    line = format_message("ex", "rk", {"h": 1}, b"x" * 10, "true", False, 4)
    assert line.startswith("[ex rk]") and "xxxx... (10 bytes)" in line
    parsed = json.loads(format_message("", "rk", None, b"{}", "dropped", True, 100))
    assert parsed == {
        "exchange": "",
        "routing_key": "rk",
        "headers": {},
        "status": "dropped",
        "body": "{}",
    }
