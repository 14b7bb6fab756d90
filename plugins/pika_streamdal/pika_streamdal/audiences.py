"""Audience patterns (globs on any field; dots in names are ordinary characters) and the registry
of audiences an engine has seen."""

from __future__ import annotations

import builtins
import fnmatch
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Pattern

from pika_streamdal.context import OPERATION_TYPE_CONSUMER, OPERATION_TYPE_PRODUCER, Audience

__all__ = ["AudienceInfo", "AudiencePattern", "AudienceRegistry", "as_pattern"]

_OPERATION_TYPES: dict[str, str] = {
    "*": "*",
    "1": "1",
    "2": "2",
    "consumer": "1",
    "deliver": "1",
    "consume": "1",
    "producer": "2",
    "publish": "2",
}


def _glob(pattern: str) -> Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


@dataclass(frozen=True)
class AudiencePattern:
    """Glob patterns (``*``, ``?``, ``[...]``) for each audience field; ``*`` matches dots too."""

    service_name: str = "*"
    component_name: str = "*"
    operation_type: str = "*"
    operation_name: str = "*"

    def __post_init__(self) -> None:
        kind = _OPERATION_TYPES.get(str(self.operation_type).lower())
        if kind is None:
            raise ValueError(
                "operation_type must be '*', 1/'consumer' or 2/'producer'; got "
                f"{self.operation_type!r}"
            )
        object.__setattr__(self, "operation_type", kind)

    def matcher(self) -> Callable[[Audience], bool]:
        """A fast predicate for this pattern."""
        checks: list[tuple[str, Pattern[str]]] = [
            (name, _glob(getattr(self, name)))
            for name in ("service_name", "component_name", "operation_name")
            if getattr(self, name) != "*"
        ]
        kind = self.operation_type
        wanted = int(kind) if kind != "*" else None

        def matches(audience: Audience) -> bool:
            if wanted is not None and audience.operation_type != wanted:
                return False
            for name, regex in checks:
                if regex.match(getattr(audience, name)) is None:
                    return False
            return True

        return matches


def as_pattern(value: Any) -> AudiencePattern:
    """A pattern from an AudiencePattern, an Audience (exact), a dict, a tuple or a glob string.

    A string is a glob on the operation name; a tuple gives (service, component,
    operation_type, operation_name), left to right, the rest defaulting to ``*``.
    """
    if isinstance(value, AudiencePattern):
        return value
    if isinstance(value, Audience):
        return AudiencePattern(
            _escape(value.service_name),
            _escape(value.component_name),
            str(value.operation_type),
            _escape(value.operation_name),
        )
    if isinstance(value, str):
        return AudiencePattern(operation_name=value)
    if isinstance(value, Mapping):
        known = {"service_name", "component_name", "operation_type", "operation_name"}
        unknown = set(value) - known
        if unknown:
            raise ValueError(
                f"unknown audience pattern key(s) {sorted(unknown)}; use {sorted(known)}"
            )
        return AudiencePattern(**{key: str(item) for key, item in value.items()})
    if isinstance(value, (tuple, list)) and 1 <= len(value) <= 4:
        return AudiencePattern(*[str(item) for item in value])
    raise TypeError(
        "an audience pattern is an Audience, an AudiencePattern, a dict, a tuple "
        f"(service, component, operation_type, operation_name) or a glob string; got {value!r}"
    )


def _escape(name: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in name)


def type_name(operation_type: int) -> str:
    """ "producer" or "consumer"."""
    if operation_type == OPERATION_TYPE_PRODUCER:
        return "producer"
    if operation_type == OPERATION_TYPE_CONSUMER:
        return "consumer"
    return str(operation_type)


class AudienceInfo(NamedTuple):
    """One audience an engine has seen."""

    audience: Audience
    first_seen: float
    last_seen: float
    messages: int


class AudienceRegistry:
    """The audiences seen, with first/last-seen time (``time.time()``) and message counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[Audience, list[float]] = {}

    def saw(self, audience: Audience) -> bool:
        """Record one message; True when the audience is new."""
        now = time.time()
        with self._lock:
            entry = self._seen.get(audience)
            if entry is None:
                self._seen[audience] = [now, now, 1.0]
                return True
            entry[1] = now
            entry[2] += 1
            return False

    def list(self) -> builtins.list[AudienceInfo]:
        """Every audience seen, oldest first."""
        with self._lock:
            return [
                AudienceInfo(audience, entry[0], entry[1], int(entry[2]))
                for audience, entry in self._seen.items()
            ]
