"""The worker: runs one scenario of one Python client in this fresh process, prints JSON.

Usage (the runner calls it): ``python -m bench.drivers CLIENT SCENARIO PARAMS_JSON``, or
``python -m bench.drivers --probe CLIENT [CLIENT ...]`` to set up every named client in one
process. The last line on stdout is a JSON object with ``status`` "ok" (plus the raw result,
or for a probe ``reasons``: each client's null or why it cannot run) or "n/a" (plus
``reason``); a crash exits non-zero with the traceback on stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from types import ModuleType
from typing import Any

from bench.drivers import Unsupported, discover
from bench.scenarios import Params


def _module(name: str) -> ModuleType:
    for module in discover():
        if module.CLIENT.name == name:
            return module
    known = ", ".join(module.CLIENT.name for module in discover())
    raise SystemExit(f"unknown client {name!r}; known clients: {known}")


def _vm_hwm_mib() -> float | None:
    """This process's peak resident set (VmHWM), which exec resets, in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _emit(result: dict[str, Any]) -> None:
    result["vm_hwm_mib"] = _vm_hwm_mib()
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


def _probe(names: list[str]) -> int:
    """Try to set up each named client in this one process: {name: None or why not}."""
    reasons: dict[str, str | None] = {}
    for name in names:
        module = _module(name)
        try:
            module.driver()
        except Exception as exc:  # noqa: BLE001 - any import or setup failure makes the row n/a
            reasons[name] = f"{type(exc).__name__}: {exc}"
        else:
            reasons[name] = None
    _emit({"status": "ok", "reasons": reasons})
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--probe":
        return _probe(argv[1:])
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    name, scenario, raw_params = argv
    module = _module(name)
    params = Params(**json.loads(raw_params))
    reason = getattr(module, "UNSUPPORTED", {}).get(scenario)
    if reason:
        _emit({"status": "n/a", "reason": reason})
        return 0
    try:
        driver = module.driver()
    except Unsupported as exc:
        _emit({"status": "n/a", "reason": str(exc)})
        return 0
    method = getattr(driver, scenario, None)
    if method is None:
        _emit({"status": "n/a", "reason": f"the {name} driver has no {scenario} scenario"})
        return 0
    try:
        raw = method(params)
    except Unsupported as exc:
        _emit({"status": "n/a", "reason": str(exc)})
        return 0
    except Exception:  # noqa: BLE001 - the traceback goes to stderr, the run fails
        traceback.print_exc()
        return 1
    raw["status"] = "ok"
    _emit(raw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
