"""``python -m pika_core``: the command line; plugins add subcommands with pika_add_cli_commands.

Each subcommand binds ``handler=func`` on its parser; ``func(args)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Callable, Optional, Sequence, TextIO

from pika_core._version import __version__
from pika_core.demo import add_subcommand as add_demo_subcommand
from pika_core.plugins import PikaPluginManager, PluginInfo, get_plugin_manager

if TYPE_CHECKING:
    from pika_core.plugins import AdapterSpec

__all__ = ["build_parser", "main", "run"]

logger = logging.getLogger("pika_core.plugins")

Handler = Callable[[argparse.Namespace], Optional[int]]


def build_parser(manager: PikaPluginManager | None = None) -> argparse.ArgumentParser:
    """The top-level parser: built-in subcommands, then those plugins add."""
    if manager is None:
        manager = get_plugin_manager()
    parser = argparse.ArgumentParser(
        prog="python -m pika_core",
        description="pika-core, a fast AMQP 0-9-1 client for RabbitMQ: tools and plugin commands.",
    )
    parser.add_argument("--version", action="version", version=f"pika-core {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")

    plugins = subparsers.add_parser(
        "plugins",
        help="list the installed plugins: name, version, hooks and adapters",
        description="List every registered plugin with its version, hooks and adapters.",
    )
    plugins.add_argument("--json", action="store_true", help="print JSON instead of text")
    plugins.set_defaults(handler=_plugins_command(manager))
    add_demo_subcommand(subparsers)

    builtins = dict(subparsers.choices)
    manager.call_each("pika_add_cli_commands", subparsers=subparsers)
    for name, builtin in builtins.items():  # Python < 3.11 lets add_parser replace a name
        if subparsers.choices.get(name) is not builtin:
            logger.error("a plugin replaced the built-in subcommand %r; the built-in is kept", name)
            subparsers.choices[name] = builtin
    return parser


def main(argv: Sequence[str] | None = None, manager: PikaPluginManager | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]), run the chosen subcommand, return its status."""
    parser = build_parser(manager)
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    status = handler(args)
    return 0 if status is None else status


def run() -> None:
    """The console-script entry point: log warnings to stderr, exit with main's status."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    sys.exit(main())


# -------------------------------------------------------------------------------------------------
# plugins
# -------------------------------------------------------------------------------------------------


def _plugins_command(manager: PikaPluginManager) -> Handler:
    def plugins_command(args: argparse.Namespace) -> int:
        infos = manager.list_plugins()
        adapters = manager.adapters()
        if args.json:
            json.dump([_plugin_json(info, adapters) for info in infos], sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            write_plugins(infos, adapters, sys.stdout)
        return 0

    return plugins_command


def write_plugins(
    infos: Sequence[PluginInfo], adapters: dict[str, AdapterSpec], out: TextIO
) -> None:
    """The text of ``python -m pika_core plugins``: one block per plugin."""
    count = len(infos)
    out.write(f"pika-core {__version__}: {count} plugin{'' if count == 1 else 's'}\n")
    for info in infos:
        out.write(f"\n{info.name} {info.version or '(version unknown)'}")
        if info.distribution and info.distribution != info.name:
            out.write(f" (distribution {info.distribution})")
        out.write("\n")
        out.write(f"  hooks:    {', '.join(info.hooks) or '(none)'}\n")
        if not info.adapters:
            out.write("  adapters: (none)\n")
        for index, name in enumerate(info.adapters):
            label = "  adapters: " if index == 0 else "            "
            spec = adapters[name]
            out.write(
                f"{label}{name} -> pika_core.adapters.{spec.pika_module}"
                f".{spec.connection_class_name}\n"
            )


def _plugin_json(info: PluginInfo, adapters: dict[str, AdapterSpec]) -> dict[str, object]:
    return {
        "name": info.name,
        "version": info.version,
        "distribution": info.distribution,
        "hooks": list(info.hooks),
        "adapters": [
            {
                "name": name,
                "pika_module": f"pika_core.adapters.{adapters[name].pika_module}",
                "connection_class": adapters[name].connection_class_name,
            }
            for name in info.adapters
        ],
    }


if __name__ == "__main__":
    run()
