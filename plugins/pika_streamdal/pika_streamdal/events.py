"""The events an engine emits to ``engine.on_event`` callbacks (wire them to Slack, mail, paging)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pika_streamdal.context import Audience

__all__ = ["Dropped", "Event", "Failed", "RuleMatched", "SchemaChanged"]


@dataclass(frozen=True)
class Event:
    """Base of every event: when (ns since the epoch) and for which audience."""

    ts_ns: int
    audience: Audience


@dataclass(frozen=True)
class RuleMatched(Event):
    """A step whose condition has ``notify=True`` ended with that condition's status."""

    pipeline_id: str = ""
    step: str = ""
    status: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    #: Per payload_mode: None (exclude), the payload bytes (full), or {path: value} (paths).
    payload: Any = None


@dataclass(frozen=True)
class Dropped(Event):
    """A message was dropped by a pipeline step or an interceptor."""

    reason: str = ""
    pipeline_id: str = ""
    step: str = ""
    direction: str = ""


@dataclass(frozen=True)
class Failed(Event):
    """A pipeline ended in ERROR (a step raised, timed out or met invalid input)."""

    reason: str = ""
    pipeline_id: str = ""
    step: str = ""
    exception: BaseException | None = None


@dataclass(frozen=True)
class SchemaChanged(Event):
    """The inferred schema of an audience changed (``old`` is None the first time)."""

    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
