"""Client drivers: one module per benchmarked client (a row of the table).

A driver module defines ``CLIENT`` (a :class:`Client`) and either

- ``driver() -> object``: a Python driver. It is called inside a fresh worker process
  (``python -m bench.drivers CLIENT SCENARIO PARAMS``) and returns an object with one method
  per scenario it supports (``publish``, ``confirms``, ``consume``, ``large``, ``rpc``,
  ``memory``, ``channels``), each taking a :class:`bench.scenarios.Params` and returning the raw
  result dict. Peers are imported inside ``driver()`` only, so listing clients imports none; or
- ``command(scenario, params) -> list[str]``: an external program (the C baseline).

Optional: ``UNSUPPORTED = {"scenario": "reason"}`` for scenarios the client cannot run (shown as
n/a with the reason), and ``probe() -> str | None`` returning why the client is unavailable.

Adding a row (a new pika-core adapter, a new peer) is adding one module here; the runner finds
every module of this package that defines ``CLIENT``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any, NamedTuple


class Unsupported(Exception):
    """Raised by a driver method for a scenario the client cannot run; the message says why."""


class Client(NamedTuple):
    """A row of the benchmark table."""

    name: str  # used on the command line (--clients) and in the JSON
    label: str  # shown in tables and charts
    order: int  # rows are sorted by it: C first, then pika-core, then the peers
    family: str  # "c", "pika-core" or "peer"


def discover() -> list[ModuleType]:
    """Every driver module of this package, sorted by its CLIENT.order."""
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "CLIENT", None), Client):
            modules.append(module)
    return sorted(modules, key=lambda module: module.CLIENT.order)


# Bulk loops look at the clock once per this many messages (Params.cap_s bounds them).
CHECK_EVERY = 100


def timed(elapsed: float, count: int, note: str = "") -> dict[str, Any]:
    """The raw result of a timed scenario, as every driver reports it."""
    return {"elapsed_s": elapsed, "count": count, "note": note}
