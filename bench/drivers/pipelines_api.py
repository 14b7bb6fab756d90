"""The message-pipeline scenario (issue 8): pika-core's BlockingConnection under pika-streamdal.

One run publishes 1 KiB JSON bodies carrying PII to a queue (until the broker holds them), then
consumes them back (prefetch 1000, ack every 100), and reports wall-clock time and the process's
CPU time (user + system, ``resource.getrusage``) for each phase. The variants differ only in
their setup:

- ``absent``: the plugin's entry point is not loaded (``PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD=1``);
- ``installed``: loaded (``PIKA_CORE_PLUGINS=streamdal``) and nothing configured;
- ``passthrough``: one interceptor that passes every message unchanged;
- ``pii-mask``: a pipeline bound to every audience that detects PII and masks it (publish and
  delivery both run it).

The runner sets each variant's environment before the process starts (``ENV`` of the driver
module), as an application's deployment would; the driver checks that the plugin is (or is
not) loaded, and that the broker got masked bodies exactly when a pipeline masks them.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

from bench.drivers import Unsupported
from bench.drivers.pika_blocking_api import publish_capped
from bench.scenarios import Params

# A driver module's ENV: variables set (or, when None, removed) for its worker processes.
ABSENT_ENV: dict[str, str | None] = {
    "PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD": "1",
    "PIKA_CORE_PLUGINS": None,
}
INSTALLED_ENV: dict[str, str | None] = {
    "PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD": None,
    "PIKA_CORE_PLUGINS": "streamdal",
}
EMAIL = "ann.example@example.com"
UNSUPPORTED = {
    name: "a client scenario: the pipeline rows run the pipelines scenario only"
    for name in ("publish", "confirms", "consume", "large", "rpc", "memory", "channels")
}


def json_body(size: int) -> bytes:
    """A JSON order of exactly ``size`` bytes with an email, a card number and a phone number."""
    order = {
        "id": 1234567,
        "customer": {
            "name": "Ann Example",
            "email": EMAIL,
            "phone": "+14155550123",
            "card": "4111 1111 1111 1111",
        },
        "items": [{"sku": f"SKU-{i:04d}", "qty": i + 1, "price": "12.50"} for i in range(8)],
        "note": "",
    }
    bare = len(json.dumps(order, separators=(",", ":")))
    if bare > size:
        raise ValueError(f"the JSON body needs at least {bare} bytes, got size={size}")
    order["note"] = "x" * (size - bare)
    body = json.dumps(order, separators=(",", ":")).encode()
    assert len(body) == size
    return body


def probe() -> str | None:
    """Why the pipeline rows cannot run (checked in the runner, without importing pika-core)."""
    import importlib.util

    if importlib.util.find_spec("pika_core") is None:
        return "pika-core is not installed in this environment"
    try:
        from importlib import metadata

        metadata.distribution("pika-streamdal")
    except Exception:  # noqa: BLE001 - PackageNotFoundError, or a broken installation
        return "pika-streamdal is not installed: pip install -e plugins/pika_streamdal"
    return None


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _streamdal_loaded() -> bool:
    from pika_core import plugins

    return any(
        info.distribution == "pika-streamdal" or info.name == "streamdal"
        for info in plugins.list_plugins()
    )


class PassThrough:
    """The cheapest interceptor: every message passes unchanged."""

    def on_publish(self, ctx: Any) -> None:
        return None

    def on_deliver(self, ctx: Any) -> None:
        return None


class PipelineDriver:
    """Runs the ``pipelines`` scenario for one variant."""

    def __init__(self, variant: str) -> None:
        import pika_core

        self.variant = variant
        self.pika = pika_core
        loaded = _streamdal_loaded()
        if variant == "absent":
            if loaded:
                raise RuntimeError("pika-streamdal is loaded although its entry point is off")
            self.parameters_class: Any = pika_core.ConnectionParameters
            self.extra: dict[str, Any] = {}
            return
        if not loaded:
            raise Unsupported(
                "pika-streamdal is not installed in this environment: "
                "pip install -e plugins/pika_streamdal (bench/requirements.txt has it)"
            )
        if variant == "installed":
            self.parameters_class = pika_core.ConnectionParameters
            self.extra = {}
        elif variant == "passthrough":
            import pika_streamdal as sd  # type: ignore[import-not-found,unused-ignore]

            self.parameters_class = sd.ConnectionParameters
            self.extra = {"interceptors": [PassThrough()]}
        elif variant == "pii-mask":
            import pika_streamdal as sd  # type: ignore[import-not-found,unused-ignore]

            engine = sd.Engine()
            steps = (
                sd.Step("find", "detect", {"type": "pii_any"}),
                sd.Step("mask", "transform", {"type": "mask"}, dynamic=True),
            )
            engine.set_pipelines("*", [sd.Pipeline("mask-pii", "mask-pii", steps)])
            self.parameters_class = sd.ConnectionParameters
            self.extra = {"interceptors": [engine]}
        else:
            raise ValueError(f"unknown pipeline variant {variant!r}")

    def pipelines(self, params: Params) -> dict[str, Any]:
        parameters = self.parameters_class(host=params.host, port=params.port, **self.extra)
        connection = self.pika.BlockingConnection(parameters)
        channel = connection.channel()
        body = json_body(params.size)
        queue = params.queue

        cpu = cpu_seconds()
        start = time.perf_counter()
        sent = publish_capped(
            channel.basic_publish, queue, body, params.count, start + params.cap_s
        )
        while channel.queue_declare(queue, passive=True).method.message_count < sent:
            time.sleep(0.002)
        publish_elapsed = time.perf_counter() - start
        publish_cpu = cpu_seconds() - cpu

        ack_every = params.ack_every
        received = 0
        first: list[bytes] = []

        def on_message(ch: Any, method: Any, properties: Any, payload: bytes) -> None:
            nonlocal received
            received += 1
            if received == 1:
                first.append(payload)
            if received % ack_every == 0 or received == sent:
                ch.basic_ack(method.delivery_tag, multiple=True)
                if received == sent:
                    ch.stop_consuming()

        cpu = cpu_seconds()
        start = time.perf_counter()
        channel.basic_qos(prefetch_count=params.prefetch)
        channel.basic_consume(queue, on_message)
        channel.start_consuming()
        consume_elapsed = time.perf_counter() - start
        consume_cpu = cpu_seconds() - cpu
        connection.close()

        masked = EMAIL.encode() not in first[0]
        if masked != (self.variant == "pii-mask"):
            raise RuntimeError(
                f"variant {self.variant}: the consumed body is "
                f"{'masked' if masked else 'not masked'}: {first[0][:120]!r}"
            )
        return {
            "count": sent,
            "publish_elapsed_s": publish_elapsed,
            "publish_cpu_s": publish_cpu,
            "consume_elapsed_s": consume_elapsed,
            "consume_cpu_s": consume_cpu,
            "note": "",
        }
