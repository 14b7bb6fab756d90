"""The interceptor API: what an interceptor is, and the chain that applies drop and error policies.

An interceptor is any object with ``on_publish(ctx)`` and ``on_deliver(ctx)`` returning a
:class:`Verdict` (None counts as PASS); ``on_return``, ``on_confirm``, ``on_settle``,
``after_deliver`` and ``close`` are optional. Nothing in this module imports an optional package.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable, NamedTuple, Protocol, Sequence

from pika_streamdal.context import (
    CONSUME_DROP_ACTIONS,
    DROP,
    DROP_POLICIES,
    FAIL,
    ON_ERROR_POLICIES,
    OPERATION_TYPE_CONSUMER,
    OPERATION_TYPE_PRODUCER,
    PASS,
    Audience,
    AudienceNamer,
    InterceptOptions,
    InterceptorError,
    MessageContext,
    MessageDropped,
    Verdict,
)

__all__ = [
    "DROP",
    "FAIL",
    "PASS",
    "Audience",
    "InterceptOptions",
    "Interceptor",
    "InterceptorChain",
    "InterceptorError",
    "InterceptorLike",
    "MessageContext",
    "MessageDropped",
    "Policy",
    "Verdict",
    "default_audience",
    "default_service_name",
]

logger = logging.getLogger("pika_streamdal")


class InterceptorLike(Protocol):
    """The two methods every interceptor has."""

    def on_publish(self, ctx: MessageContext) -> Verdict | None: ...

    def on_deliver(self, ctx: MessageContext) -> Verdict | None: ...


class Interceptor:
    """A convenient base class: every hook passes; override what you need."""

    def on_publish(self, ctx: MessageContext) -> Verdict | None:
        """Called before a message is sent."""
        return PASS

    def on_deliver(self, ctx: MessageContext) -> Verdict | None:
        """Called before a delivered (consume, basic_get) message reaches the application."""
        return PASS

    def on_return(self, ctx: MessageContext) -> Verdict | None:
        """Called before the return callbacks see a returned message; delegates to on_deliver."""
        return self.on_deliver(ctx)

    def on_confirm(self, ctx: MessageContext, ack: bool) -> None:
        """Called once per settled publish of a confirm-mode channel (ctx.delivery_tag = seq)."""

    def on_settle(self, ctx: MessageContext, action: str) -> None:
        """Called once per basic_ack/basic_nack/basic_reject of the application.

        ``action`` is "ack", "nack" or "reject"; ``ctx.delivery_tag`` the tag given,
        ``ctx.metadata["multiple"]``/``["requeue"]`` "true" or "false".
        """

    def after_deliver(self, ctx: MessageContext, exception: BaseException | None) -> None:
        """Called when the application is done with a consumed message (the on_deliver ctx).

        ``exception`` is what its callback raised, else None; also called (with None) for a
        consumed message that was dropped, or left unprocessed when its channel closed.
        """

    def close(self) -> None:
        """Called once, when the connection that created the interceptor closes."""


class Policy(NamedTuple):
    """The drop and error policies in force for one message."""

    on_error: str = "pass_original"
    drop_policy: str = "silent"
    #: None: "reject" for manual-ack consumers, "ack" (a no-op) for auto-ack ones.
    consume_drop_action: str | None = None

    def validate(self) -> Policy:
        """Raise ValueError naming the bad setting."""
        if self.on_error not in ON_ERROR_POLICIES:
            raise ValueError(f"on_error must be one of {ON_ERROR_POLICIES}; got {self.on_error!r}")
        if self.drop_policy not in DROP_POLICIES:
            raise ValueError(
                f"drop_policy must be one of {DROP_POLICIES}; got {self.drop_policy!r}"
            )
        action = self.consume_drop_action
        if action is not None and action not in CONSUME_DROP_ACTIONS:
            raise ValueError(
                f"consume_drop_action must be one of {CONSUME_DROP_ACTIONS}; got {action!r}"
            )
        return self

    def merged(self, options: InterceptOptions | None) -> Policy:
        """This policy with a call's overrides applied."""
        if options is None:
            return self
        return Policy(
            options.on_error or self.on_error,
            options.drop_policy or self.drop_policy,
            options.consume_drop_action or self.consume_drop_action,
        )


_HOOK_FALLBACK = {"on_return": "on_deliver"}


class InterceptorChain:
    """Interceptors in registration order; runs them and applies the policies.

    Returns a verdict the hook layer acts on: PASS (the context may be changed), DROP, or FAIL
    carrying the exception to raise (``on_error="raise"``). With ``pass_original`` a failure is
    logged and the context put back to the untouched original, and PASS is returned.
    """

    __slots__ = ("interceptors",)

    def __init__(self, interceptors: Sequence[Any] = ()) -> None:
        self.interceptors: list[Any] = list(interceptors)

    def __bool__(self) -> bool:
        return bool(self.interceptors)

    def __len__(self) -> int:
        return len(self.interceptors)

    def add(self, interceptor: Any) -> None:
        """Append an interceptor (it runs after those already present)."""
        check_interceptor(interceptor)
        self.interceptors.append(interceptor)

    def run(
        self, ctx: MessageContext, hook: str, policy: Policy, extra: Sequence[Any] = ()
    ) -> Verdict:
        """Run ``hook`` ("on_publish", "on_deliver", "on_return") of every interceptor."""
        original = (ctx.body, ctx.properties)
        for interceptor in _chained(self.interceptors, extra):
            method: Callable[[MessageContext], Verdict | None] | None = getattr(
                interceptor, hook, None
            )
            if method is None:
                fallback = _HOOK_FALLBACK.get(hook)
                method = getattr(interceptor, fallback, None) if fallback else None
                if method is None:
                    continue
            try:
                verdict = method(ctx)
            except Exception as exc:  # noqa: BLE001 - policy: an interceptor error is a FAIL
                verdict = FAIL(f"{_name(interceptor)}.{hook} raised {exc!r}", exc)
            if verdict is None or verdict.kind == "pass":
                if not isinstance(ctx.body, (bytes, bytearray)):
                    ctx.body, ctx.properties = original
                    verdict = FAIL(
                        f"{_name(interceptor)}.{hook} set ctx.body to "
                        f"{type(ctx.body).__name__}; assign bytes"
                    )
                else:
                    continue
            if verdict.kind == "drop":
                return verdict
            # A failure, by verdict or by exception.
            if policy.on_error == "pass_original":
                logger.warning(
                    "interceptor %s failed the %s message (%s); passing the original on "
                    "(on_error='pass_original')",
                    _name(interceptor),
                    ctx.direction,
                    verdict.reason,
                    exc_info=verdict.exc,
                )
                ctx.body, ctx.properties = original
                return PASS
            return FAIL(verdict.reason, InterceptorError(verdict.reason, ctx, verdict.exc))
        return PASS

    def notify(self, hook: str, *args: Any, extra: Sequence[Any] = ()) -> None:
        """Call an optional notification hook (on_confirm, on_settle) on every interceptor."""
        for interceptor in _chained(self.interceptors, extra):
            method = getattr(interceptor, hook, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception:
                logger.exception("interceptor %s raised in %s", _name(interceptor), hook)

    def close(self) -> None:
        """Close every interceptor once, logging (not raising) what they raise."""
        interceptors, self.interceptors = self.interceptors, []
        for interceptor in interceptors:
            close = getattr(interceptor, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                logger.exception("interceptor %s raised in close()", _name(interceptor))


def _chained(first: Sequence[Any], second: Sequence[Any]) -> Sequence[Any]:
    if not second:
        return first
    return list(first) + list(second)


def check_interceptor(interceptor: Any) -> None:
    """TypeError unless ``interceptor`` has on_publish and on_deliver."""
    if not (
        callable(getattr(interceptor, "on_publish", None))
        and callable(getattr(interceptor, "on_deliver", None))
    ):
        raise TypeError(
            f"{interceptor!r} is not an interceptor: give it on_publish(ctx) and on_deliver(ctx) "
            "methods (or subclass pika_streamdal.Interceptor)"
        )


def _name(interceptor: Any) -> str:
    return type(interceptor).__name__


_fqdn: str | None = None


def default_service_name(configured: str | None = None) -> str:
    """The parameter's service_name, else STREAMDAL_SERVICE_NAME, else the host's FQDN."""
    global _fqdn
    if configured:
        return configured
    from_env = os.environ.get("STREAMDAL_SERVICE_NAME")
    if from_env:
        return from_env
    if _fqdn is None:
        _fqdn = socket.getfqdn()
    return _fqdn


def default_audience(ctx: MessageContext, service_name: str) -> Audience:
    """The audience of a message as the specification defines it (no character mangling)."""
    if ctx.direction == "publish":
        name = ctx.exchange or "amq.default"
        if ctx.routing_key:
            name = f"{name}/{ctx.routing_key}"
        return Audience(service_name, "rabbitmq", OPERATION_TYPE_PRODUCER, name)
    if ctx.api == "return":
        name = ctx.exchange or "amq.default"
    else:
        name = ctx.queue if ctx.queue is not None else ctx.routing_key
    return Audience(service_name, "rabbitmq", OPERATION_TYPE_CONSUMER, name)


def with_operation_type(audience: Audience, direction: str) -> Audience:
    """The audience with its operation type set by direction, as the fork did."""
    wanted = OPERATION_TYPE_PRODUCER if direction == "publish" else OPERATION_TYPE_CONSUMER
    if audience.operation_type == wanted:
        return audience
    return Audience(audience.service_name, audience.component_name, wanted, audience.operation_name)


def resolve_audience(
    ctx: MessageContext,
    service_name: str,
    namer: AudienceNamer | None,
    options: InterceptOptions | None,
) -> Audience:
    """Per-call audience, else the namer's, else the default."""
    if options is not None and options.audience is not None:
        return with_operation_type(options.audience, ctx.direction)
    if namer is not None:
        return namer(ctx)
    return default_audience(ctx, service_name)
