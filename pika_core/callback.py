"""CallbackManager: callbacks registered by (prefix, key), pika's ``connection.callbacks``.

The asynchronous facades use it only off the per-message path: for ``Channel.add_callback``
registrations (a reply method such as Basic.GetEmpty) and for code written against pika that
adds or processes callbacks by name. A prefix is a channel number (0 for the connection); a key
is a method class or instance (keyed by its ``NAME``), a ``frame.Method`` (its method's
``NAME``), or any string.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

__all__ = ["CallbackManager", "name_or_value"]

LOGGER = logging.getLogger(__name__)


def name_or_value(value: Any) -> str:
    """The registry key of ``value``: a method's NAME, a frame's method NAME, else str()."""
    method = getattr(value, "method", None)
    if method is not None and hasattr(method, "NAME"):
        return str(method.NAME)
    name = getattr(value, "NAME", None)
    if isinstance(name, str):
        return name
    return str(value)


class _Entry:
    """One registered callback and how it may be called."""

    __slots__ = ("arguments", "callback", "calls", "one_shot", "only")

    def __init__(
        self, callback: Callable[..., Any], one_shot: bool, only: Any, arguments: Any
    ) -> None:
        self.callback = callback
        self.one_shot = one_shot
        self.only = only
        self.arguments = arguments
        self.calls = 0


def _matches(value: Any, expected: dict[str, Any] | None) -> bool:
    """Whether ``value`` (a frame, method or dict) has every attribute ``expected`` names."""
    if not expected:
        return True
    target = getattr(value, "method", value)
    for name, wanted in expected.items():
        got = target.get(name) if isinstance(target, dict) else getattr(target, name, None)
        if got != wanted:
            return False
    return True


class CallbackManager:
    """Callbacks stored by prefix (channel number) and key (method name or string)."""

    def __init__(self) -> None:
        self._stack: dict[str, dict[str, list[_Entry]]] = {}

    def add(
        self,
        prefix: Any,
        key: Any,
        callback: Callable[..., Any],
        one_shot: bool = True,
        only_caller: Any = None,
        arguments: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Register ``callback`` for (prefix, key); returns the normalised (prefix, key)."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        prefix_s, key_s = str(prefix), name_or_value(key)
        entries = self._stack.setdefault(prefix_s, {}).setdefault(key_s, [])
        for entry in entries:
            if (
                entry.callback == callback
                and entry.only is only_caller
                and entry.arguments == arguments
            ):
                if entry.one_shot and one_shot:
                    entry.calls += 1  # pika: adding a one-shot twice calls it twice
                return prefix_s, key_s
        entry = _Entry(callback, one_shot, only_caller, arguments)
        entry.calls = 1
        entries.append(entry)
        return prefix_s, key_s

    def clear(self) -> None:
        """Forget every callback."""
        self._stack.clear()

    def cleanup(self, prefix: Any) -> bool:
        """Forget every callback of ``prefix``; True if there were any."""
        return self._stack.pop(str(prefix), None) is not None

    def pending(self, prefix: Any, key: Any) -> int | None:
        """How many callbacks wait on (prefix, key), or None when none ever did."""
        entries = self._stack.get(str(prefix), {}).get(name_or_value(key))
        return None if entries is None else len(entries)

    def process(self, prefix: Any, key: Any, caller: Any, *args: Any, **kwargs: Any) -> bool:
        """Call every matching callback with ``*args``; True if at least one ran."""
        prefix_s, key_s = str(prefix), name_or_value(key)
        by_key = self._stack.get(prefix_s)
        if not by_key:
            return False
        entries = by_key.get(key_s)
        if not entries:
            return False
        selected: list[_Entry] = []
        for entry in list(entries):
            if entry.only is not None and entry.only is not caller:
                continue
            if entry.arguments and not (args and _matches(args[0], entry.arguments)):
                continue
            selected.append(entry)
            if entry.one_shot:
                entry.calls -= 1
                if entry.calls <= 0:
                    entries.remove(entry)
        if not entries:
            del by_key[key_s]
            if not by_key:
                del self._stack[prefix_s]
        for entry in selected:
            entry.callback(*args, **kwargs)
        return bool(selected)

    def remove(
        self,
        prefix: Any,
        key: Any,
        callback_value: Callable[..., Any] | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> bool:
        """Remove ``callback_value`` (or every callback) from (prefix, key); True if found."""
        prefix_s, key_s = str(prefix), name_or_value(key)
        by_key = self._stack.get(prefix_s)
        if not by_key or key_s not in by_key:
            return False
        entries = by_key[key_s]
        kept = [
            entry
            for entry in entries
            if not (
                (callback_value is None or entry.callback == callback_value)
                and (arguments is None or entry.arguments == arguments)
            )
        ]
        removed = len(kept) != len(entries)
        if kept:
            by_key[key_s] = kept
        else:
            del by_key[key_s]
            if not by_key:
                del self._stack[prefix_s]
        return removed

    def remove_all(self, prefix: Any, key: Any) -> None:
        """Remove every callback of (prefix, key)."""
        by_key = self._stack.get(str(prefix))
        if by_key is not None:
            by_key.pop(name_or_value(key), None)
