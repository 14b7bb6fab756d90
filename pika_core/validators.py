"""Argument checks shared by the public API, with pika's names (``pika.validators``)."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["require_callback", "require_string", "rpc_completion_callback", "zero_or_greater"]


def require_string(value: Any, value_name: str) -> None:
    """Raise TypeError naming ``value_name`` unless ``value`` is a str."""
    if not isinstance(value, str):
        raise TypeError(f"{value_name} must be a str, got {type(value).__name__}")


def require_callback(callback: Any, callback_name: str = "callback") -> None:
    """Raise TypeError naming ``callback_name`` unless ``callback`` is callable."""
    if not callable(callback):
        raise TypeError(f"{callback_name} must be callable, got {type(callback).__name__}")


def rpc_completion_callback(callback: Callable[..., Any] | None) -> bool:
    """Return True (nowait) for None, False for a callable; raise TypeError otherwise."""
    if callback is None:
        return True
    if callable(callback):
        return False
    raise TypeError(f"completion callback must be callable or None, got {type(callback).__name__}")


def zero_or_greater(name: str, value: Any) -> None:
    """Raise ValueError naming ``name`` if ``value`` is negative."""
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
