"""The values an interceptor works with: the message context, its audience, verdicts, options.

Nothing here imports an optional package; it is imported on the per-message path.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

__all__ = [
    "CONSUME_DROP_ACTIONS",
    "DROP",
    "DROP_POLICIES",
    "FAIL",
    "ON_ERROR_POLICIES",
    "OPERATION_TYPE_CONSUMER",
    "OPERATION_TYPE_PRODUCER",
    "PASS",
    "Audience",
    "AudienceNamer",
    "InterceptOptions",
    "InterceptorError",
    "MessageContext",
    "MessageDropped",
    "Verdict",
]

#: Streamdal's numbers for the two operation types, kept so audiences migrate unchanged.
OPERATION_TYPE_CONSUMER = 1
OPERATION_TYPE_PRODUCER = 2

ON_ERROR_POLICIES = ("pass_original", "raise")
DROP_POLICIES = ("silent", "raise")
CONSUME_DROP_ACTIONS = ("ack", "reject", "nack_requeue", "none")


class MessageDropped(Exception):
    """basic_publish raises this for a dropped message when ``drop_policy="raise"``."""

    def __init__(self, reason: str, context: MessageContext | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.context = context


class InterceptorError(Exception):
    """An interceptor failed a message and the error policy is ``"raise"``."""

    def __init__(
        self, reason: str, context: MessageContext | None = None, exc: BaseException | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.context = context
        self.exc = exc


@dataclass(frozen=True)
class Audience:
    """Who sends or receives a message, as Streamdal names it; the key pipelines are bound by."""

    service_name: str
    component_name: str = "rabbitmq"
    operation_type: int = OPERATION_TYPE_PRODUCER
    operation_name: str = ""

    @property
    def is_producer(self) -> bool:
        """True for the publishing side."""
        return self.operation_type == OPERATION_TYPE_PRODUCER

    def labels(self) -> dict[str, str]:
        """The audience as metric labels."""
        return {
            "service": self.service_name,
            "component": self.component_name,
            "operation_type": "producer" if self.is_producer else "consumer",
            "operation_name": self.operation_name,
        }

    def __str__(self) -> str:
        kind = "producer" if self.is_producer else "consumer"
        return f"{self.service_name}/{self.component_name}/{kind}/{self.operation_name}"


class Verdict(NamedTuple):
    """What an interceptor decided: ``kind`` is "pass", "drop" or "fail"."""

    kind: str
    reason: str = ""
    exc: BaseException | None = None

    @property
    def passed(self) -> bool:
        """The message goes on (possibly changed)."""
        return self.kind == "pass"


#: The message goes on, with whatever the interceptor changed in the context.
PASS = Verdict("pass")


def DROP(reason: str = "dropped") -> Verdict:
    """The message is not sent, or not delivered to the application."""
    return Verdict("drop", reason)


def FAIL(reason: str, exc: BaseException | None = None) -> Verdict:
    """The interceptor could not do its work; the error policy (``on_error``) decides."""
    return Verdict("fail", reason, exc)


@dataclass
class MessageContext:
    """One message passing through the interceptors; ``body`` is always bytes.

    Interceptors may assign ``body`` and ``properties`` (headers included); each interceptor sees
    the previous one's output.
    """

    direction: str  # "publish" | "deliver"
    api: str  # "basic_publish", "basic_consume", "consume", "basic_get", "return", "confirm"
    body: bytes
    properties: Any = None
    exchange: str = ""
    routing_key: str = ""
    queue: str | None = None
    channel_number: int = 0
    consumer_tag: str | None = None
    delivery_tag: int | None = None
    redelivered: bool = False
    mandatory: bool = False
    audience: Audience | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    #: The call's InterceptOptions (None: the connection's settings).
    options: InterceptOptions | None = None

    @property
    def headers(self) -> dict[str, Any]:
        """The message headers (a new empty dict when there are none; not attached)."""
        headers = getattr(self.properties, "headers", None)
        return headers if isinstance(headers, dict) else {}

    def set_header(self, name: str, value: Any) -> None:
        """Set one header, creating BasicProperties or the headers table when needed."""
        properties = self.properties
        if properties is None:
            from pika_core.spec import BasicProperties

            properties = BasicProperties()
        else:  # a copy: the application may reuse its properties, and FAIL restores the original
            properties = copy.copy(properties)
        self.properties = properties
        headers = getattr(properties, "headers", None)
        if not isinstance(headers, dict):
            headers = {}
        else:
            headers = dict(headers)  # never edit a dict the application still holds
        headers[name] = value
        properties.headers = headers


AudienceNamer = Callable[[MessageContext], Audience]


@dataclass(frozen=True)
class InterceptOptions:
    """Per-call overrides: ``basic_publish(..., intercept=InterceptOptions(...))`` and friends.

    ``None`` leaves the connection's setting in force.
    """

    audience: Audience | None = None
    on_error: str | None = None
    drop_policy: str | None = None
    consume_drop_action: str | None = None
    skip: bool = False
    dry_run: bool | None = None

    def __post_init__(self) -> None:
        _check_choice("on_error", self.on_error, ON_ERROR_POLICIES)
        _check_choice("drop_policy", self.drop_policy, DROP_POLICIES)
        _check_choice("consume_drop_action", self.consume_drop_action, CONSUME_DROP_ACTIONS)

    @classmethod
    def from_streamdal_cfg(cls, cfg: Any) -> InterceptOptions:
        """The compat alias: any object with ``.audience`` and ``.strict_errors``."""
        audience = getattr(cfg, "audience", None)
        strict = bool(getattr(cfg, "strict_errors", False))
        return cls(
            audience=_as_audience(audience) if audience is not None else None,
            on_error="raise" if strict else "pass_original",
        )


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _as_audience(value: Any) -> Audience:
    """An Audience from ours or from any object with Streamdal's attribute names."""
    if isinstance(value, Audience):
        return value
    try:
        return Audience(
            service_name=str(getattr(value, "service_name", "") or ""),
            component_name=str(getattr(value, "component_name", "") or "rabbitmq"),
            operation_type=int(getattr(value, "operation_type", OPERATION_TYPE_PRODUCER)),
            operation_name=str(getattr(value, "operation_name", "") or ""),
        )
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"audience must be a pika_streamdal.Audience or have service_name, component_name, "
            f"operation_type and operation_name; got {value!r}"
        ) from exc
