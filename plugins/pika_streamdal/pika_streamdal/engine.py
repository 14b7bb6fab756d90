"""The pipeline engine: an interceptor that runs Streamdal-style pipelines bound to audiences.

``Engine`` (alias ``PipelineInterceptor``) holds the bindings (copy-on-write, so a reload never
disturbs a message in flight), decides per message whether to process it (size limit, sampling,
mode), runs the pipelines, and reports through metrics, events and tail subscriptions.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterable, Mapping, Sequence, Tuple

from pika_streamdal import paths
from pika_streamdal.audiences import AudienceInfo, AudiencePattern, AudienceRegistry, as_pattern
from pika_streamdal.context import DROP, FAIL, PASS, Audience, MessageContext, Verdict
from pika_streamdal.events import Dropped, Event, Failed, RuleMatched, SchemaChanged
from pika_streamdal.metrics import MetricsRegistry, MetricsSnapshot
from pika_streamdal.pipeline import (
    STATUS_ERROR,
    STATUS_SAMPLED,
    STATUS_SKIPPED,
    Cond,
    Pipeline,
    PipelineResult,
    Step,
)
from pika_streamdal.runner import Payload, Runner, merge_schema
from pika_streamdal.tail import TailEvent, TailSubscription

__all__ = ["Engine", "PipelineInterceptor"]

logger = logging.getLogger("pika_streamdal")

_Binding = Tuple[AudiencePattern, Callable[[Audience], bool], Tuple[Pipeline, ...]]
_State = Tuple[Tuple[_Binding, ...], Dict[Audience, Tuple[Pipeline, ...]]]
Labels = Tuple[Tuple[str, str], ...]

PAYLOAD_MODES = ("exclude", "full", "paths")


class Engine:
    """Runs pipelines on the messages of the audiences they are bound to.

    :param max_payload_size: bodies larger than this skip processing (counted in oversize_total).
    :param step_timeout: seconds a step may take (None: unlimited); over it the step is ERROR.
    :param pipeline_timeout: seconds all pipelines of one message may take.
    :param sampling: ``(rate, interval_s)``: process at most ``rate`` messages per interval per
        audience; the others pass untouched and are counted as sampled.
    :param mode: ``"sync"`` (may modify and drop) or ``"observe"`` (a bounded background worker
        runs on a copy; it never modifies or drops; a full queue drops the copy, counted).
    :param dry_run: evaluate and report, but pass the original on.
    :param infer_schemas: infer every JSON payload's schema per audience (``engine.schema()``).
    :param kv: the store kv steps look keys up in (a Mapping, or a callable ``key -> bool``).
    :param payload_mode: what RuleMatched events carry: exclude, full, or paths (``payload_paths``).
    """

    def __init__(
        self,
        *,
        max_payload_size: int = 1 << 20,
        step_timeout: float | None = None,
        pipeline_timeout: float | None = None,
        sampling: tuple[int, float] | None = None,
        mode: str = "sync",
        dry_run: bool = False,
        infer_schemas: bool = False,
        kv: Any = None,
        allow_http_steps: bool = False,
        http_timeout: float = 5.0,
        payload_mode: str = "exclude",
        payload_paths: Sequence[str] = (),
        observe_queue_size: int = 1000,
        use_jsonschema: bool | None = None,
    ) -> None:
        if mode not in ("sync", "observe"):
            raise ValueError(f"mode must be 'sync' or 'observe'; got {mode!r}")
        if payload_mode not in PAYLOAD_MODES:
            raise ValueError(f"payload_mode must be one of {PAYLOAD_MODES}; got {payload_mode!r}")
        if sampling is not None and (len(sampling) != 2 or sampling[0] < 0 or sampling[1] <= 0):
            raise ValueError("sampling must be (messages per interval >= 0, interval seconds > 0)")
        self.max_payload_size = max_payload_size
        self.sampling = sampling
        self.mode = mode
        self.dry_run = dry_run
        self.infer_schemas = infer_schemas
        self.payload_mode = payload_mode
        self.payload_paths = tuple(payload_paths)
        self.metrics = MetricsRegistry()
        self._state: _State = ((), {})
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Event], None]] = []
        self._tails: tuple[TailSubscription, ...] = ()
        self._audiences = AudienceRegistry()
        self._labels: dict[Audience, Labels] = {}
        self._schemas: dict[Audience, dict[str, Any]] = {}
        self._windows: dict[Audience, list[float]] = {}
        self._observe_queue: queue.Queue[Any] = queue.Queue(observe_queue_size)
        self._observer: threading.Thread | None = None
        self._watchers: list[threading.Event] = []
        self._closed = False
        self._runner = Runner(
            step_timeout=step_timeout,
            pipeline_timeout=pipeline_timeout,
            kv=kv,
            allow_http_steps=allow_http_steps,
            http_timeout=http_timeout,
            use_jsonschema=use_jsonschema,
            observe_step=self._observe_step,
            notify=self._notify_rule,
            schema_seen=self._schema_seen,
        )
        self._local = threading.local()

    # -- bindings ---------------------------------------------------------------------------------

    def set_pipelines(self, audience_or_pattern: Any, pipelines: Iterable[Any]) -> None:
        """Bind pipelines (objects or dicts) to an audience pattern, replacing that pattern's."""
        pattern = as_pattern(audience_or_pattern)
        built = tuple(_as_pipeline(item) for item in pipelines)
        with self._lock:
            bindings = [b for b in self._state[0] if b[0] != pattern]
            if built:
                bindings.append((pattern, pattern.matcher(), built))
            self._state = (tuple(bindings), {})

    def replace_all(self, bindings: Iterable[tuple[Any, Iterable[Any]]]) -> None:
        """Replace every binding at once (what a reload does)."""
        built: list[_Binding] = []
        for audience_or_pattern, pipelines in bindings:
            pattern = as_pattern(audience_or_pattern)
            built = [b for b in built if b[0] != pattern]
            items = tuple(_as_pipeline(item) for item in pipelines)
            if items:
                built.append((pattern, pattern.matcher(), items))
        with self._lock:
            self._state = (tuple(built), {})

    def clear(self) -> None:
        """Remove every binding."""
        with self._lock:
            self._state = ((), {})

    def bindings(self) -> list[tuple[AudiencePattern, tuple[Pipeline, ...]]]:
        """The bindings in force: (pattern, pipelines)."""
        return [(pattern, pipelines) for pattern, _m, pipelines in self._state[0]]

    def pipelines_for(self, audience: Audience) -> tuple[Pipeline, ...]:
        """The pipelines that run for ``audience``, in binding order."""
        bindings, cache = self._state
        found = cache.get(audience)
        if found is None:
            collected: list[Pipeline] = []
            for _pattern, matches, pipelines in bindings:
                if matches(audience):
                    collected.extend(pipelines)
            found = cache[audience] = tuple(collected)
        return found

    def load(self, data: Any) -> None:
        """Replace every binding from the dict/JSON form (see docs/streamdal.md)."""
        self.replace_all(_parse_bindings(data))

    def load_file(self, path: str, watch: bool = False, interval: float = 1.0) -> None:
        """Load bindings from a JSON (or YAML, with PyYAML) file; ``watch`` reloads on change."""
        self.load(_read_file(path))
        if not watch:
            return
        stop = threading.Event()
        self._watchers.append(stop)
        thread = threading.Thread(
            target=self._watch,
            args=(path, interval, stop),
            name="pika-streamdal-watch",
            daemon=True,
        )
        thread.start()

    def _watch(self, path: str, interval: float, stop: threading.Event) -> None:
        last = _mtime(path)
        while not stop.wait(interval):
            current = _mtime(path)
            if current == last:
                continue
            last = current
            try:
                self.load(_read_file(path))
            except Exception:
                logger.exception("reloading %s failed; the previous pipelines stay in force", path)
            else:
                logger.info("reloaded pipelines from %s", path)

    # -- observers ----------------------------------------------------------------------------------

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for RuleMatched, Dropped, Failed, SchemaChanged; returns an
        unsubscribe function."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def tail(
        self,
        audience_pattern: Any = "*",
        sample_rate: int | None = None,
        include_original: bool = True,
        redact_original: bool = False,
        maxsize: int = 1000,
        *,
        sample_interval: float = 1.0,
        callback: Callable[[TailEvent], None] | None = None,
    ) -> TailSubscription:
        """Subscribe to the messages of matching audiences (bounded; overflow is counted)."""
        subscription = TailSubscription(
            as_pattern(audience_pattern).matcher(),
            sample_rate=sample_rate,
            sample_interval=sample_interval,
            include_original=include_original,
            redact_original=redact_original,
            maxsize=maxsize,
            callback=callback,
            on_overflow=lambda: self.metrics.inc("tail_dropped_total", ()),
            on_close=self._untail,
        )
        with self._lock:
            self._tails = self._tails + (subscription,)
        return subscription

    def _untail(self, subscription: TailSubscription) -> None:
        with self._lock:
            self._tails = tuple(t for t in self._tails if t is not subscription)

    def metrics_snapshot(self) -> MetricsSnapshot:
        """Every counter and histogram now."""
        return self.metrics.snapshot()

    def audiences(self) -> list[AudienceInfo]:
        """The audiences seen, with first/last-seen times and counts."""
        return self._audiences.list()

    def schema(self, audience: Audience) -> dict[str, Any] | None:
        """The schema inferred so far for ``audience`` (None before its first JSON payload)."""
        return self._schemas.get(audience)

    # -- the interceptor --------------------------------------------------------------------------

    def on_publish(self, ctx: MessageContext) -> Verdict:
        """Run the pipelines bound to the message's (producer) audience."""
        return self.intercept(ctx)

    def on_deliver(self, ctx: MessageContext) -> Verdict:
        """Run the pipelines bound to the message's (consumer) audience."""
        return self.intercept(ctx)

    def intercept(self, ctx: MessageContext) -> Verdict:
        """Process one message context; change ``ctx.body`` and return the verdict."""
        audience = ctx.audience
        if audience is None:
            raise ValueError("the message context has no audience; set ctx.audience first")
        options = ctx.options
        dry_run = self.dry_run if options is None or options.dry_run is None else options.dry_run
        result = self.process(ctx.body, audience, dry_run=dry_run, headers=ctx.headers, ctx=ctx)
        if result.metadata:
            ctx.metadata.update(result.metadata)
        if dry_run or result.status in (STATUS_SAMPLED, STATUS_SKIPPED):
            return PASS
        if result.dropped:
            return DROP(result.drop_reason)
        if result.status == STATUS_ERROR:
            return FAIL(result.message or "pipeline error")
        if result.modified and result.body is not None:
            ctx.body = result.body
        return PASS

    def process(
        self,
        body: bytes,
        audience: Audience,
        *,
        dry_run: bool | None = None,
        headers: Mapping[str, Any] | None = None,
        ctx: MessageContext | None = None,
    ) -> PipelineResult:
        """Run the bound pipelines over ``body`` and report; broker-free entry point."""
        if dry_run is None:
            dry_run = self.dry_run
        labels = self._labels_of(audience)
        metrics = self.metrics
        metrics.inc("messages_total", labels)
        metrics.inc("bytes_total", labels, len(body))
        self._audiences.saw(audience)
        pipelines = self.pipelines_for(audience)
        if len(body) > self.max_payload_size:
            metrics.inc("oversize_total", labels)
            result = PipelineResult(STATUS_SKIPPED, "payload larger than max_payload_size")
        elif not pipelines and not self.infer_schemas:
            result = PipelineResult(STATUS_SKIPPED, "no pipeline for this audience")
        elif not self._admit(audience):
            metrics.inc("sampled_total", labels)
            result = PipelineResult(STATUS_SAMPLED, "sampled out")
        elif self.mode == "observe":
            self._observe(body, audience, pipelines, headers, ctx)
            return PipelineResult(STATUS_SKIPPED, "observed in the background", body=body)
        else:
            result = self._run(body, audience, pipelines, labels, dry_run)
        if result.body is None:
            result.body = body
        self._report(body, audience, result, dry_run, headers, ctx)
        return result

    def _run(
        self,
        body: bytes,
        audience: Audience,
        pipelines: tuple[Pipeline, ...],
        labels: Labels,
        dry_run: bool,
    ) -> PipelineResult:
        self._local.audience = audience
        self._local.payload_body = body
        started = time.perf_counter()
        try:
            result = self._runner.run(pipelines, body)
            if self.infer_schemas:
                valid, value = Payload(result.body or body).json()
                if valid:
                    self._schema_seen(value, audience)
        finally:
            self._local.audience = None
        elapsed = time.perf_counter() - started
        self.metrics.observe(
            "pipeline_duration_seconds", labels + (("status", result.status),), elapsed
        )
        if dry_run:
            return result
        if result.dropped:
            self.metrics.inc("dropped_total", labels)
            step = result.steps[-1] if result.steps else None
            self._emit(
                Dropped(
                    time.time_ns(),
                    audience,
                    result.drop_reason,
                    step.pipeline_id if step else "",
                    step.step if step else "",
                    "publish" if audience.is_producer else "deliver",
                )
            )
        elif result.status == STATUS_ERROR:
            self.metrics.inc("errors_total", labels)
            failing = next((s for s in result.steps if s.status == STATUS_ERROR), None)
            self._emit(
                Failed(
                    time.time_ns(),
                    audience,
                    failing.message if failing else result.message,
                    failing.pipeline_id if failing else "",
                    failing.step if failing else "",
                )
            )
        elif result.modified:
            self.metrics.inc("modified_total", labels)
        return result

    def _report(
        self,
        body: bytes,
        audience: Audience,
        result: PipelineResult,
        dry_run: bool,
        headers: Mapping[str, Any] | None,
        ctx: MessageContext | None,
    ) -> None:
        tails = self._tails
        if not tails:
            return
        if dry_run:
            verdict = "pass"
        elif result.dropped:
            verdict = "drop"
        elif result.status == STATUS_ERROR:
            verdict = "fail"
        else:
            verdict = "pass"
        event = TailEvent(
            time.time_ns(),
            audience,
            result.pipeline_ids,
            body,
            None if verdict == "drop" else (result.body if result.body is not None else body),
            verdict,
            result.status,
            result.message,
            dict(headers) if headers else None,
            ctx.exchange if ctx is not None else "",
            ctx.routing_key if ctx is not None else "",
        )
        for subscription in tails:
            if subscription.wants(audience):
                subscription.offer(event)

    # -- sampling, observe mode --------------------------------------------------------------------

    def _admit(self, audience: Audience) -> bool:
        sampling = self.sampling
        if sampling is None:
            return True
        rate, interval = sampling
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(audience)
            if window is None or now - window[0] >= interval:
                window = self._windows[audience] = [now, 0.0]
            if window[1] >= rate:
                return False
            window[1] += 1
            return True

    def _observe(
        self,
        body: bytes,
        audience: Audience,
        pipelines: tuple[Pipeline, ...],
        headers: Mapping[str, Any] | None,
        ctx: MessageContext | None,
    ) -> None:
        if self._observer is None:
            with self._lock:
                if self._observer is None and not self._closed:
                    self._observer = threading.Thread(
                        target=self._observe_loop, name="pika-streamdal-observe", daemon=True
                    )
                    self._observer.start()
        try:
            self._observe_queue.put_nowait((body, audience, pipelines, headers))
        except queue.Full:
            self.metrics.inc("observe_dropped_total", self._labels_of(audience))

    def _observe_loop(self) -> None:
        while True:
            item = self._observe_queue.get()
            if item is None:
                self._observe_queue.task_done()
                return
            body, audience, pipelines, headers = item
            try:
                result = self._run(body, audience, pipelines, self._labels_of(audience), False)
                self._report(body, audience, result, False, headers, None)
            except Exception:
                logger.exception("observe-mode pipeline failed")
            finally:
                self._observe_queue.task_done()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until the observe worker has processed what is queued (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._observe_queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    # -- callbacks from the runner ------------------------------------------------------------------

    def _labels_of(self, audience: Audience) -> Labels:
        labels = self._labels.get(audience)
        if labels is None:
            labels = self._labels[audience] = tuple(sorted(audience.labels().items()))
        return labels

    def _observe_step(self, pipeline_id: str, step: str, status: str, seconds: float) -> None:
        audience = getattr(self._local, "audience", None)
        labels = self._labels_of(audience) if audience is not None else ()
        self.metrics.observe(
            "step_duration_seconds",
            labels + (("pipeline", pipeline_id), ("status", status), ("step", step)),
            seconds,
        )

    def _notify_rule(
        self, pipeline_id: str, step: Step, status: str, cond: Cond, payload: Payload
    ) -> None:
        audience = getattr(self._local, "audience", None)
        if audience is None:
            return
        labels = self._labels_of(audience)
        self.metrics.inc("notify_total", labels + (("pipeline", pipeline_id), ("step", step.name)))
        if self.payload_mode == "full":
            carried: Any = payload.body()
        elif self.payload_mode == "paths":
            valid, root = payload.json()
            carried = (
                {
                    path: [value for _where, value in paths.find(root, path)]
                    for path in self.payload_paths
                }
                if valid
                else {}
            )
        else:
            carried = None
        self._emit(
            RuleMatched(
                time.time_ns(),
                audience,
                pipeline_id,
                step.name,
                status,
                dict(cond.metadata),
                carried,
            )
        )

    def _schema_seen(self, value: Any, audience: Audience | None = None) -> None:
        if audience is None:
            audience = getattr(self._local, "audience", None)
        if audience is None:
            return
        with self._lock:
            old = self._schemas.get(audience)
            new = merge_schema(old, value)
            if new == old:
                return
            self._schemas[audience] = new
        self._emit(SchemaChanged(time.time_ns(), audience, old, new))

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %r", listener, event)

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the observe worker and file watchers (bounded join); end tail subscriptions."""
        if self._closed:
            return
        self._closed = True
        for stop in self._watchers:
            stop.set()
        observer = self._observer
        if observer is not None:
            try:
                self._observe_queue.put(None, timeout=1.0)
            except queue.Full:
                pass
            observer.join(timeout=2.0)
        for subscription in self._tails:
            subscription.close()


#: The specification's name for the built-in pipeline interceptor.
PipelineInterceptor = Engine


def _as_pipeline(item: Any) -> Pipeline:
    if isinstance(item, Pipeline):
        return item
    if isinstance(item, Mapping):
        return Pipeline.from_dict(item)
    raise TypeError(f"a pipeline is a pika_streamdal.Pipeline or its dict form; got {item!r}")


def _parse_bindings(data: Any) -> list[tuple[Any, list[Any]]]:
    """Bindings from ``{"bindings": [{"audience": ..., "pipelines": [...]}]}`` and shorter forms."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    if isinstance(data, Mapping) and "bindings" in data:
        data = data["bindings"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise TypeError("pipeline config must be a binding, a list of them, or {'bindings': [...]}")
    bindings: list[tuple[Any, list[Any]]] = []
    for entry in data:
        if not isinstance(entry, Mapping) or "pipelines" not in entry:
            raise ValueError(f"each binding needs 'audience' and 'pipelines': {entry!r}")
        bindings.append((entry.get("audience", "*"), list(entry["pipelines"])))
    return bindings


def _read_file(path: str) -> Any:
    with open(path, "rb") as handle:
        raw = handle.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml  # optional: the [yaml] extra
        except ImportError:
            raise ImportError(
                f"{path} is YAML and PyYAML is not installed: pip install 'pika-streamdal[yaml]'"
            ) from None
        return yaml.safe_load(raw)
    return json.loads(raw)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return -1.0
