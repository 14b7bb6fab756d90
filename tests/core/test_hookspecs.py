"""The hook specifications are contracts: each is documented in its docstring and in docs/plugins.md."""

from __future__ import annotations

import inspect
import pathlib
import re
from typing import Callable

import pytest

from pika_core import hookspecs
from pika_core.plugins import new_plugin_manager

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"

# The hooks, by lifecycle. Adding one is a decision: add it here, document it, test it.
EXPECTED_HOOKS = {
    "pika_register_adapters",
    "pika_add_cli_commands",
    "pika_connection_created",
    "pika_connection_opened",
    "pika_connection_closed",
    "pika_channel_opened",
    "pika_channel_closed",
    "pika_before_publish",
    "pika_on_delivery",
    "pika_on_return",
    "pika_on_confirm",
    "pika_on_settle",
    "pika_after_delivery",
}


def _specs() -> dict[str, Callable[..., object]]:
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
    }


SPECS = _specs()


def test_the_hooks_are_exactly_the_expected_ones() -> None:
    assert set(SPECS) == EXPECTED_HOOKS


def test_the_plugin_manager_knows_every_hook() -> None:
    manager = new_plugin_manager()
    for name in EXPECTED_HOOKS:
        assert getattr(manager.hook, name).has_spec(), name


def test_hookspecs_exports_every_hook() -> None:
    assert EXPECTED_HOOKS <= set(hookspecs.__all__)


@pytest.mark.parametrize("name", sorted(EXPECTED_HOOKS))
def test_docstring_follows_the_skeleton(name: str) -> None:
    doc = inspect.getdoc(SPECS[name])
    assert doc, f"{name} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.endswith("."), f"{name}: the summary line must be one sentence: {summary!r}"
    assert re.search(r"^Called: \S", doc, re.MULTILINE), f"{name}: no 'Called:' paragraph"
    assert re.search(r"^Thread: \S", doc, re.MULTILINE), f"{name}: no 'Thread:' paragraph"
    assert re.search(r"^:returns: \S", doc, re.MULTILINE), f"{name}: no ':returns:'"
    assert re.search(r"^If it raises: \S", doc, re.MULTILINE), f"{name}: no 'If it raises:'"
    documented = re.findall(r"^:param (\w+):", doc, re.MULTILINE)
    parameters = list(inspect.signature(SPECS[name]).parameters)
    assert documented == parameters, f"{name}: :param: lines {documented} != {parameters}"


@pytest.mark.parametrize("name", sorted(EXPECTED_HOOKS))
def test_hook_options_follow_the_written_policy(name: str) -> None:
    opts = getattr(SPECS[name], f"{hookspecs.PROJECT_NAME}_spec")
    # No hook provides "one thing", and registration hooks are asked lazily, not historically.
    assert opts["firstresult"] is False
    assert opts["historic"] is False


def _documented_signatures() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for match in re.finditer(r"^#{2,4} `(pika_\w+)\((.*)\)`\s*$", text, re.MULTILINE):
        name, params = match.group(1), match.group(2)
        assert name not in found, f"{name} is documented twice in {DOCS.name}"
        found[name] = params
    return found


def test_docs_document_every_hook_and_nothing_else() -> None:
    assert set(_documented_signatures()) == EXPECTED_HOOKS


@pytest.mark.parametrize("name", sorted(EXPECTED_HOOKS))
def test_docs_heading_is_the_exact_signature(name: str) -> None:
    parameters = ", ".join(inspect.signature(SPECS[name]).parameters)
    assert _documented_signatures()[name] == parameters


@pytest.mark.parametrize("name", sorted(EXPECTED_HOOKS))
def test_every_hook_is_exercised_by_a_test(name: str) -> None:
    # The hook's name must appear in a test other than this file (datasette's rule).
    sources = [
        path.read_text(encoding="utf-8")
        for path in (ROOT / "tests" / "core").glob("test_*.py")
        if path.name != pathlib.Path(__file__).name
    ]
    assert any(f"def {name}(" in source for source in sources), f"no test implements {name}"
