"""The codec and the protocol stay free of I/O: no sockets, selectors, TLS, threads or clocks.

An AST scan (nothing is imported) of pika_core/data.py, spec.py, frame.py, amqp_object.py and
pika_core/protocol/, followed through every pika_core submodule they import, so that a forbidden
module cannot come in through a helper either (the package's __init__.py, which re-exports the
adapters, is not followed). Imports under ``if TYPE_CHECKING:`` are type-only
and allowed.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Iterator

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[2] / "pika_core"

FORBIDDEN = frozenset({"socket", "select", "selectors", "ssl", "threading", "asyncio", "time"})

# The layer under test: every one must exist, except amqp_object.py (pika's base classes), which
# is checked when present.
REQUIRED_MODULES = ["pika_core.data", "pika_core.spec", "pika_core.frame", "pika_core.protocol"]
OPTIONAL_MODULES = ["pika_core.amqp_object"]


def _module_file(module: str) -> pathlib.Path | None:
    """The source file of a pika_core module or package, or None if there is none."""
    relative = pathlib.Path(*module.split(".")[1:])
    for candidate in (
        PACKAGE_DIR / relative.with_suffix(".py"),
        PACKAGE_DIR / relative / "__init__.py",
    ):
        if relative.parts and candidate.is_file():
            return candidate
    if not relative.parts:
        return PACKAGE_DIR / "__init__.py"
    return None


def _package_modules(package: str) -> list[str]:
    """The package itself and every module below it, as dotted names."""
    init = _module_file(package)
    if init is None or init.name != "__init__.py":
        return [package]
    names = []
    for path in sorted(init.parent.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("pika_core",) + parts))
    return names


def _is_type_checking_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of the tree except those under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking_guard(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(module: str, path: pathlib.Path) -> list[tuple[str, int]]:
    """Every module name imported at run time by the file, with its line number."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            found.append((base, node.lineno))
            # "from pika_core import data" imports the submodule pika_core.data.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if name in ("__import__", "import_module") and isinstance(first, ast.Constant):
                found.append((str(first.value), node.lineno))
    return found


def _scan(roots: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    """Forbidden imports per module, following pika_core imports; and the modules scanned."""
    violations: dict[str, list[str]] = {}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        for imported, line in _imports(module, path):
            top = imported.split(".")[0]
            if top in FORBIDDEN:
                violations.setdefault(module, []).append(f"line {line}: imports {imported}")
            elif imported.startswith("pika_core.") and _module_file(imported) is not None:
                # pika_core/__init__.py itself is not followed: it re-exports the adapters.
                todo.append(imported)
    return violations, seen


def _layer_roots() -> list[str]:
    roots: list[str] = []
    for module in REQUIRED_MODULES + OPTIONAL_MODULES:
        if _module_file(module) is not None:
            roots += _package_modules(module)
    return roots


@pytest.mark.parametrize("module", REQUIRED_MODULES)
def test_layer_module_exists(module: str) -> None:
    assert _module_file(module) is not None, f"{module} is missing from {PACKAGE_DIR}"


def test_codec_and_protocol_import_no_io_or_clock_modules() -> None:
    violations, scanned = _scan(_layer_roots())
    assert "pika_core.data" in scanned
    assert violations == {}, (
        "the codec and protocol must stay sans-I/O (time is passed in, bytes in and out); "
        f"move these imports to a transport or adapter module: {violations}"
    )


def test_scanner_catches_every_import_form(tmp_path: pathlib.Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "import os, socket\n"
        "from time import monotonic\n"
        "import asyncio.events\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import ssl\n"
        "else:\n"
        "    import selectors\n"
        "def f():\n"
        "    import threading\n"
        "    return __import__('select')\n"
    )
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    tops = {name.split(".")[0] for name, _ in _imports("pika_core.sample", path)}
    assert tops & FORBIDDEN == {"socket", "time", "asyncio", "selectors", "threading", "select"}


def test_relative_imports_resolve_inside_the_package() -> None:
    assert _resolve_relative("pika_core.protocol.channel", False, 1, "events") == (
        "pika_core.protocol.events"
    )
    assert _resolve_relative("pika_core.protocol.channel", False, 2, "frame") == "pika_core.frame"
    assert _resolve_relative("pika_core.protocol", True, 1, "events") == "pika_core.protocol.events"
