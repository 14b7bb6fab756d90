"""Running pipelines over one payload: steps in order, conditions, budgets, metrics per step.

The engine (``pika_streamdal.engine``) decides whether a message is processed at all; this module
does the processing and returns a :class:`PipelineResult`.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from typing import Any, Callable, Sequence

from pika_streamdal import detectors, paths, transforms
from pika_streamdal.detectors import Match, StepTimeout
from pika_streamdal.pipeline import (
    ABORT_ALL,
    ABORT_CURRENT,
    JSON,
    STATUS_ERROR,
    STATUS_FALSE,
    STATUS_TRUE,
    Cond,
    Pipeline,
    PipelineResult,
    Step,
    StepResult,
)
from pika_streamdal.schema import SchemaValidator, infer_schema, merge_schemas

__all__ = ["Payload", "Runner"]


class Payload:
    """The message body as bytes, parsed to JSON on first need and re-encoded only if changed."""

    __slots__ = ("_body", "_dirty", "_obj", "_parsed", "_valid", "modified")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._obj: Any = None
        self._parsed = False
        self._valid = False
        self._dirty = False
        self.modified = False

    def json(self) -> tuple[bool, Any]:
        """(True, value) for a JSON body; (False, None) otherwise."""
        if not self._parsed:
            self._parsed = True
            try:
                self._obj = json.loads(self._body)
                self._valid = True
            except (ValueError, UnicodeDecodeError):
                self._obj, self._valid = None, False
        return self._valid, self._obj

    def set_json(self, value: Any) -> None:
        """Replace the parsed value (the body is re-encoded when read)."""
        self._obj, self._parsed, self._valid = value, True, True
        self._dirty = self.modified = True

    def changed(self) -> None:
        """The parsed value was changed in place."""
        self._dirty = self.modified = True

    def body(self) -> bytes:
        """The current body."""
        if self._dirty:
            self._body = json.dumps(self._obj, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
            self._dirty = False
        return self._body

    def text(self) -> str:
        """The current body as text (undecodable bytes replaced)."""
        return self.body().decode("utf-8", "replace")

    def set_text(self, text: str) -> None:
        """Replace the body with text."""
        self._body = text.encode("utf-8", "surrogatepass")
        self._parsed = self._dirty = False
        self.modified = True


class _StepError(Exception):
    """A step's configuration or input made it end in ERROR."""


Notifier = Callable[[str, Step, str, Cond, Payload], None]


class Runner:
    """Runs pipelines with the engine's budgets and collaborators."""

    def __init__(
        self,
        *,
        step_timeout: float | None,
        pipeline_timeout: float | None,
        kv: Any,
        allow_http_steps: bool,
        http_timeout: float,
        use_jsonschema: bool | None,
        observe_step: Callable[[str, str, str, float], None],
        notify: Notifier,
        schema_seen: Callable[[Any], None],
    ) -> None:
        self.step_timeout = step_timeout
        self.pipeline_timeout = pipeline_timeout
        self.kv = kv
        self.allow_http_steps = allow_http_steps
        self.http_timeout = http_timeout
        self.use_jsonschema = use_jsonschema
        self._observe_step = observe_step
        self._notify = notify
        self._schema_seen = schema_seen
        self._validators: dict[int, SchemaValidator] = {}

    def run(self, pipelines: Sequence[Pipeline], body: bytes) -> PipelineResult:
        """Run every pipeline in order over ``body``."""
        payload = Payload(body)
        result = PipelineResult(STATUS_TRUE)
        started = time.perf_counter()
        budget = self.pipeline_timeout
        pipeline_deadline = started + budget if budget is not None else math.inf
        abort_all = False
        any_false = False
        for pipeline in pipelines:
            status, abort_all = self._run_one(pipeline, payload, result, pipeline_deadline)
            result.pipelines.append((pipeline.id, status, result.message))
            if status == STATUS_ERROR:
                result.status = STATUS_ERROR
            elif status == STATUS_FALSE:
                any_false = True
            if abort_all or result.dropped:
                break
        if result.status != STATUS_ERROR and any_false:
            result.status = STATUS_FALSE
        result.modified = payload.modified
        result.body = payload.body() if payload.modified else body
        return result

    def _run_one(
        self, pipeline: Pipeline, payload: Payload, result: PipelineResult, deadline: float
    ) -> tuple[str, bool]:
        matches: list[Match] = []
        status = STATUS_TRUE
        errored = False
        for step in pipeline.steps:
            now = time.perf_counter()
            step_budget = step.timeout if step.timeout is not None else self.step_timeout
            step_deadline = (
                min(now + step_budget, deadline) if step_budget is not None else deadline
            )
            if now > deadline:  # the pipeline's budget is spent: it ends in ERROR here
                errored = True
                result.message = f"pipeline {pipeline.id!r} ran past its time budget"
                result.steps.append(
                    StepResult(pipeline.id, step.name, STATUS_ERROR, result.message)
                )
                break
            try:
                status, message, matches = self._step(
                    step, pipeline, payload, matches, step_deadline
                )
                if time.perf_counter() > step_deadline:
                    raise StepTimeout(f"step {step.name!r} ran past its time budget")
            except StepTimeout as exc:
                status, message = STATUS_ERROR, str(exc)
            except Exception as exc:  # noqa: BLE001 - a step's failure is its ERROR status
                status, message = STATUS_ERROR, f"step {step.name!r} failed: {exc!r}"
            duration = time.perf_counter() - now
            self._observe_step(pipeline.id, step.name, status, duration)
            result.steps.append(StepResult(pipeline.id, step.name, status, message, duration))
            if message:
                result.message = message
            if status == STATUS_ERROR:
                errored = True
            cond = (
                step.on_true
                if status == STATUS_TRUE
                else (step.on_false if status == STATUS_FALSE else step.on_error)
            )
            if cond.is_default:
                continue
            if cond.metadata:
                result.metadata.update(cond.metadata)
            if cond.notify:
                self._notify(pipeline.id, step, status, cond, payload)
            if cond.drop:
                result.dropped = True
                result.drop_reason = f"pipeline {pipeline.id!r} step {step.name!r}: {status}" + (
                    f" ({message})" if message else ""
                )
                return (STATUS_ERROR if errored else status), True
            if cond.abort == ABORT_ALL:
                return (STATUS_ERROR if errored else status), True
            if cond.abort == ABORT_CURRENT:
                break
        return (STATUS_ERROR if errored else status), False

    # -- one step ---------------------------------------------------------------------------------

    def _step(
        self,
        step: Step,
        pipeline: Pipeline,
        payload: Payload,
        matches: list[Match],
        deadline: float,
    ) -> tuple[str, str, list[Match]]:
        kind = step.kind
        options = step.options
        is_json = pipeline.data_format == JSON
        if kind == "detect":
            found = self._detect(step, payload, is_json, deadline)
            if found is None:
                return STATUS_FALSE, "invalid json", []
            hit = bool(found)
            if options.get("negate"):
                hit = not hit
            return (STATUS_TRUE if hit else STATUS_FALSE), "", found
        if kind == "transform":
            return self._transform(step, payload, is_json, matches)
        if kind == "validate":
            return self._validate(step, payload)
        if kind == "infer_schema":
            valid, value = payload.json()
            if not valid:
                return STATUS_FALSE, "invalid json", []
            self._schema_seen(value)
            return STATUS_TRUE, "", matches
        if kind == "kv":
            return self._kv(step, payload)
        return self._http(step, payload, matches)

    def _detect(
        self, step: Step, payload: Payload, is_json: bool, deadline: float
    ) -> list[Match] | None:
        options = step.options
        kind = str(options["type"])
        args = options.get("args") or ()
        if isinstance(args, (str, int, float)):
            args = [args]
        func = options.get("func")
        if not is_json:
            return detectors.detect_text(payload.text(), kind, args, func=func)
        valid, value = payload.json()
        if not valid:
            return None
        return detectors.detect_json(
            value,
            kind,
            str(options.get("path", "")),
            args,
            mode=str(options.get("mode", "accuracy")),
            func=func,
            deadline=deadline,
        )

    def _transform(
        self, step: Step, payload: Payload, is_json: bool, matches: list[Match]
    ) -> tuple[str, str, list[Match]]:
        options = step.options
        kind = str(options["type"])
        if not is_json:
            return self._transform_text(step, payload, matches)
        valid, root = payload.json()
        if not valid:
            return STATUS_FALSE, "invalid json", matches
        if kind == "extract":
            wanted = options.get("paths") or [options.get("path", "")]
            payload.set_json(transforms.extract(root, list(wanted), bool(options.get("flatten"))))
            return STATUS_TRUE, "", matches
        if step.dynamic:
            targets = [match.path for match in matches if not match.span]
            if not targets:
                return STATUS_FALSE, "no matches from the previous detect step", matches
        else:
            targets = [where for where, _value in paths.find(root, str(options.get("path", "")))]
            if not targets:
                return STATUS_FALSE, f"path {options.get('path', '')!r} not found", matches
        if kind == "delete":
            for where in sorted(set(targets), key=_deletion_order, reverse=True):
                root = paths.delete_at(root, where)
            payload.set_json(root)
            return STATUS_TRUE, "", matches
        function = _value_transform(kind, options)
        for where in dict.fromkeys(targets):
            root = paths.set_at(root, where, function(paths.get_at(root, where)))
        payload.set_json(root)
        return STATUS_TRUE, "", matches

    def _transform_text(
        self, step: Step, payload: Payload, matches: list[Match]
    ) -> tuple[str, str, list[Match]]:
        options = step.options
        kind = str(options["type"])
        text = payload.text()
        if kind in ("mask", "replace"):
            if step.dynamic:
                spans = [match.span for match in matches if match.span is not None]
            elif options.get("pattern"):
                spans = [
                    found.span()
                    for found in detectors._compiled(str(options["pattern"])).finditer(text)
                ]
            else:
                spans = [(0, len(text))]
            if not spans:
                return STATUS_FALSE, "nothing to transform", matches
            replacement = str(options.get("value", "")) if kind == "replace" else None
            payload.set_text(
                transforms.mask_text_spans(text, spans, str(options.get("char", "*")), replacement)
            )
        elif kind == "delete":
            payload.set_text("")
        else:
            payload.set_text(str(_value_transform(kind, options)(text)))
        return STATUS_TRUE, "", matches

    def _validate(self, step: Step, payload: Payload) -> tuple[str, str, list[Match]]:
        options = step.options
        kind = options["type"]
        valid, value = payload.json()
        if kind == "valid_json":
            return (STATUS_TRUE, "", []) if valid else (STATUS_FALSE, "invalid json", [])
        if kind == "callable":
            func = options.get("func")
            if not callable(func):
                raise _StepError("validate callable needs options.func")
            verdict = func(value if valid else payload.body())
            if isinstance(verdict, str):
                return STATUS_FALSE, verdict, []
            return (STATUS_TRUE if verdict else STATUS_FALSE), "", []
        if not valid:
            return STATUS_FALSE, "invalid json", []
        validator = self._validators.get(id(step))
        if validator is None:
            validator = SchemaValidator(
                options["schema"], str(options.get("draft", "auto")), self.use_jsonschema
            )
            self._validators[id(step)] = validator
        errors = validator.errors(value)
        matched = not errors
        if options.get("condition", "match") == "not_match":
            matched = not matched
        message = "" if matched else (errors[0] if errors else "payload matches the schema")
        return (STATUS_TRUE if matched else STATUS_FALSE), message, []

    def _kv(self, step: Step, payload: Payload) -> tuple[str, str, list[Match]]:
        options = step.options
        if "key" in options:
            key = str(options["key"])
        else:
            valid, root = payload.json()
            if not valid:
                return STATUS_FALSE, "invalid json", []
            found = paths.find(root, str(options["key_from_path"]))
            if not found:
                return STATUS_FALSE, f"path {options['key_from_path']!r} not found", []
            key = str(found[0][1])
        store = self.kv
        if store is None:
            raise _StepError("kv steps need Engine(kv=mapping or callable)")
        exists = bool(store(key)) if callable(store) else key in store
        return (STATUS_TRUE if exists else STATUS_FALSE), "", []

    def _http(
        self, step: Step, payload: Payload, matches: list[Match]
    ) -> tuple[str, str, list[Match]]:
        if not self.allow_http_steps:
            raise _StepError(
                "http steps are disabled; create the engine with allow_http_steps=True"
            )
        options = step.options
        body = payload.body()
        valid, root = payload.json()
        if valid and matches:  # redact detected values, as Streamdal did
            redacted = json.loads(json.dumps(root))
            for match in matches:
                if match.path:
                    redacted = paths.set_at(redacted, match.path, "[redacted]")
            body = json.dumps(redacted).encode()
        request = urllib.request.Request(
            str(options["url"]),
            data=body,
            method=str(options.get("method", "POST")),
            headers={"Content-Type": "application/json", **dict(options.get("headers") or {})},
        )
        with urllib.request.urlopen(request, timeout=self.http_timeout) as response:
            ok = 200 <= int(response.status) < 300
        return (STATUS_TRUE if ok else STATUS_FALSE), "", matches


def _deletion_order(where: paths.Concrete) -> tuple[Any, ...]:
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in where)


def _value_transform(kind: str, options: Any) -> Callable[[Any], Any]:
    if kind == "replace":
        replacement = options.get("value")
        return lambda value: replacement
    if kind == "mask":
        char = str(options.get("char", "*"))
        ratio = float(options.get("keep_ratio", 0.2))
        return lambda value: transforms.mask_value(value, char, ratio)
    if kind == "obfuscate":
        int_value = int(options.get("int_value", transforms.OBFUSCATED_INT))
        float_value = float(options.get("float_value", transforms.OBFUSCATED_FLOAT))
        return lambda value: transforms.obfuscate_value(value, int_value, float_value)
    if kind == "truncate":
        length = options.get("length")
        percent = options.get("percent")
        return lambda value: transforms.truncate_value(value, length, percent)
    raise _StepError(f"transform {kind!r} does not apply to single values")


def merge_schema(old: dict[str, Any] | None, value: Any) -> dict[str, Any]:
    """``old`` widened to accept ``value`` (the inferred schema of value when old is None)."""
    inferred = infer_schema(value)
    return inferred if old is None else merge_schemas(old, inferred)
