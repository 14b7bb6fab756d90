"""The pipeline data model (Streamdal's, so that migrating is mechanical) and its loaders.

``Pipeline(id, name, steps, data_format)``; ``Step(name, kind, options, dynamic, on_true,
on_false, on_error)``; ``Cond(abort, drop, notify, metadata)``. ``Pipeline.from_dict`` reads the
dict/JSON form that ``Engine.load`` and ``Engine.load_file`` use; ``to_dict`` writes it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pika_streamdal.detectors import DETECTORS
from pika_streamdal.transforms import TRANSFORMS

__all__ = [
    "ABORT_ALL",
    "ABORT_CURRENT",
    "ABORT_NONE",
    "JSON",
    "PLAINTEXT",
    "STATUS_ERROR",
    "STATUS_FALSE",
    "STATUS_SAMPLED",
    "STATUS_SKIPPED",
    "STATUS_TRUE",
    "Cond",
    "Pipeline",
    "PipelineResult",
    "Step",
    "StepResult",
]

ABORT_NONE = "none"
ABORT_CURRENT = "current"
ABORT_ALL = "all"
_ABORTS = (ABORT_NONE, ABORT_CURRENT, ABORT_ALL)

JSON = "json"
PLAINTEXT = "plaintext"

STATUS_TRUE = "true"
STATUS_FALSE = "false"
STATUS_ERROR = "error"
#: Not processed: sampling let the message through untouched.
STATUS_SAMPLED = "sampled"
#: Not processed: too large, no pipeline, or skipped by the call's options.
STATUS_SKIPPED = "skipped"

STEP_KINDS = ("detect", "transform", "validate", "infer_schema", "kv", "http")
VALIDATIONS = ("valid_json", "json_schema", "callable")


def _abort(value: Any) -> str:
    text = str(value or ABORT_NONE).lower()
    for prefix in ("abort_condition_", "abort_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = {"unset": ABORT_NONE, "": ABORT_NONE}.get(text, text)
    if text not in _ABORTS:
        raise ValueError(f"abort must be one of none, current, all; got {value!r}")
    return text


@dataclass(frozen=True)
class Cond:
    """What happens after a step ends TRUE, FALSE or ERROR."""

    abort: str = ABORT_NONE
    #: New in pika-streamdal: make the message's verdict DROP.
    drop: bool = False
    #: Emit a RuleMatched event and count notify_total.
    notify: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "abort", _abort(self.abort))
        object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def is_default(self) -> bool:
        """True when the condition does nothing."""
        return self.abort == ABORT_NONE and not (self.drop or self.notify or self.metadata)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cond:
        """From ``{"abort": "current", "drop": true, "notify": true, "metadata": {...}}``."""
        if not data:
            return cls()
        known = {"abort", "drop", "notify", "metadata"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown condition key(s) {sorted(unknown)}; use {sorted(known)}")
        return cls(
            abort=data.get("abort", ABORT_NONE),
            drop=bool(data.get("drop", False)),
            notify=bool(data.get("notify", False)),
            metadata={str(k): str(v) for k, v in dict(data.get("metadata") or {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict form."""
        return {
            "abort": self.abort,
            "drop": self.drop,
            "notify": self.notify,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Step:
    """One step of a pipeline; ``options["type"]`` names the detector, transform or validation.

    ``dynamic=True`` makes a transform act on the previous detect step's matches instead of its
    own ``path``. ``timeout`` (seconds) overrides the engine's step budget for this step.
    """

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    dynamic: bool = False
    on_true: Cond = field(default_factory=Cond)
    on_false: Cond = field(default_factory=Cond)
    on_error: Cond = field(default_factory=Cond)
    timeout: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options))
        if self.kind not in STEP_KINDS:
            raise ValueError(
                f"step {self.name!r}: kind must be one of {', '.join(STEP_KINDS)}; got {self.kind!r}"
            )
        kind_type = self.options.get("type")
        if self.kind == "detect" and kind_type not in DETECTORS:
            raise ValueError(
                f"step {self.name!r}: detect needs options.type, one of {', '.join(DETECTORS)}; "
                f"got {kind_type!r}"
            )
        if self.kind == "transform" and kind_type not in TRANSFORMS:
            raise ValueError(
                f"step {self.name!r}: transform needs options.type, one of "
                f"{', '.join(TRANSFORMS)}; got {kind_type!r}"
            )
        if self.kind == "validate" and kind_type not in VALIDATIONS:
            raise ValueError(
                f"step {self.name!r}: validate needs options.type, one of "
                f"{', '.join(VALIDATIONS)}; got {kind_type!r}"
            )
        if self.kind == "validate" and kind_type == "json_schema" and "schema" not in self.options:
            raise ValueError(f"step {self.name!r}: json_schema needs options.schema")
        if self.kind == "kv" and not ({"key", "key_from_path"} & set(self.options)):
            raise ValueError(f"step {self.name!r}: kv_exists needs options.key or key_from_path")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        """From the dict form (``options`` may also be given inline as extra keys)."""
        data = dict(data)
        reserved = {"name", "kind", "options", "dynamic", "on_true", "on_false", "on_error"}
        options = dict(data.get("options") or {})
        for key, value in data.items():
            if key not in reserved and key != "timeout":
                options.setdefault(key, value)
        if "kind" not in data:
            raise ValueError(f"a step needs a kind ({', '.join(STEP_KINDS)}): {data!r}")
        timeout = data.get("timeout")
        return cls(
            name=str(data.get("name") or data["kind"]),
            kind=str(data["kind"]),
            options=options,
            dynamic=bool(data.get("dynamic", False)),
            on_true=Cond.from_dict(data.get("on_true")),
            on_false=Cond.from_dict(data.get("on_false")),
            on_error=Cond.from_dict(data.get("on_error")),
            timeout=float(timeout) if timeout is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict form (callables in options are kept as they are)."""
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "options": dict(self.options),
            "dynamic": self.dynamic,
            "on_true": self.on_true.to_dict(),
            "on_false": self.on_false.to_dict(),
            "on_error": self.on_error.to_dict(),
        }
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return data


@dataclass(frozen=True)
class Pipeline:
    """Steps run in order over one message."""

    id: str
    name: str
    steps: tuple[Step, ...]
    data_format: str = JSON

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        fmt = str(self.data_format).lower()
        if fmt not in (JSON, PLAINTEXT):
            raise ValueError(f"pipeline {self.id!r}: data_format must be json or plaintext")
        object.__setattr__(self, "data_format", fmt)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        """From ``{"id", "name", "data_format", "steps": [...]}``."""
        if "id" not in data:
            raise ValueError(f"a pipeline needs an id: {dict(data)!r}")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            steps=tuple(Step.from_dict(step) for step in data.get("steps", ())),
            data_format=str(data.get("data_format", JSON)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict form."""
        return {
            "id": self.id,
            "name": self.name,
            "data_format": self.data_format,
            "steps": [step.to_dict() for step in self.steps],
        }


@dataclass
class StepResult:
    """How one step ended."""

    pipeline_id: str
    step: str
    status: str
    message: str = ""
    duration: float = 0.0


@dataclass
class PipelineResult:
    """What the engine did to one message."""

    status: str
    message: str = ""
    pipelines: list[tuple[str, str, str]] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    modified: bool = False
    dropped: bool = False
    drop_reason: str = ""
    body: bytes | None = None

    @property
    def pipeline_ids(self) -> tuple[str, ...]:
        """The pipelines that ran."""
        return tuple(entry[0] for entry in self.pipelines)
