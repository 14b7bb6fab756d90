"""The pipeline engine without a broker: detectors, transforms, conditions, policies, budgets,
sampling, modes, tail, metrics, events and loading."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pika_streamdal import detectors, paths, transforms
from pika_streamdal.audiences import as_pattern
from pika_streamdal.context import OPERATION_TYPE_CONSUMER, OPERATION_TYPE_PRODUCER, Audience
from pika_streamdal.engine import Engine
from pika_streamdal.events import Dropped, Event, Failed, RuleMatched, SchemaChanged
from pika_streamdal.pipeline import Cond, Pipeline, Step
from pika_streamdal.schema import SchemaValidator, validate_subset

PRODUCER = Audience("svc", "rabbitmq", OPERATION_TYPE_PRODUCER, "orders.eu/created.v1")
CONSUMER = Audience("svc", "rabbitmq", OPERATION_TYPE_CONSUMER, "orders.eu.q")


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def mask_pii_pipeline(pid: str = "mask") -> Pipeline:
    return Pipeline(
        pid,
        "mask pii",
        (
            Step("find", "detect", {"type": "pii_any"}),
            Step("mask", "transform", {"type": "mask"}, dynamic=True),
        ),
    )


# -- paths ----------------------------------------------------------------------------------------


def test_paths_support_indexes_fanout_and_escaped_dots() -> None:
    doc = {"a": [{"b": 1}, {"b": 2}], "x.y": {"z": 3}}
    assert [v for _, v in paths.find(doc, "a.#.b")] == [1, 2]
    assert [v for _, v in paths.find(doc, "a.1.b")] == [2]
    assert [v for _, v in paths.find(doc, "x\\.y.z")] == [3]
    assert paths.find(doc, "a.5.b") == []
    assert paths.find(doc, "") == [((), doc)]
    assert paths.format_path(("x.y", "z")) == "x\\.y.z"


# -- detectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "hit", "miss"),
    [
        ("email", "mail me at a.b@example.org please", "not an email @ all"),
        ("credit_card", "4111 1111 1111 1111", "4111 1111 1111 1112"),
        ("ssn", "123-45-6789", "000-45-6789"),
        ("phone", "+441632960961", "+12"),
        ("phone", "(415) 555-2671", "415"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33"),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123", "eyJ.nope"),
        ("bearer_token", "Authorization: Bearer abcdef1234567890", "bearer"),
        ("aws_key_id", "AKIAIOSFODNN7EXAMPLE", "AKIA123"),
        ("github_pat", "ghp_" + "a" * 36, "ghp_short"),
        ("slack_token", "xoxb-123456789012-abcdef", "xox"),
        ("stripe_key", "sk_live_" + "a" * 24, "sk_live_"),
        ("rsa_private_key", "-----BEGIN RSA PRIVATE KEY-----\nMII", "-----BEGIN PUBLIC KEY-----"),
        ("ipv4", "from 192.168.1.20 today", "999.1.1.1"),
        ("ipv6", "2001:db8::1", "2001:zz8::1"),
    ],
)
def test_pii_detectors_find_values_and_reject_lookalikes(kind: str, hit: str, miss: str) -> None:
    assert detectors.detect_json({"f": hit}, kind), f"{kind} should find {hit!r}"
    assert not detectors.detect_json({"f": miss}, kind), f"{kind} should not find {miss!r}"


def test_luhn_and_iban_checksums() -> None:
    assert detectors.luhn_ok("79927398713")
    assert not detectors.luhn_ok("79927398710")
    assert detectors.iban_ok("DE89 3704 0044 0532 0130 00")
    assert not detectors.iban_ok("DE89 3704 0044 0532 0130 01")


def test_core_detectors_with_args() -> None:
    doc = {"n": 7, "s": "hello", "flag": True, "id": "123e4567-e89b-12d3-a456-426614174000"}
    assert detectors.detect_json(doc, "numeric_gt", "n", [5])
    assert not detectors.detect_json(doc, "numeric_gt", "n", [7])
    assert detectors.detect_json(doc, "numeric_range", "n", [1, 7])
    assert detectors.detect_json(doc, "string_contains_all", "s", ["he", "lo"])
    assert not detectors.detect_json(doc, "string_contains_all", "s", ["he", "xx"])
    assert detectors.detect_json(doc, "is_type", "flag", ["boolean"])
    assert detectors.detect_json(doc, "uuid", "id")
    assert detectors.detect_json(doc, "has_field", "s")
    assert not detectors.detect_json(doc, "has_field", "missing")
    assert detectors.detect_json({"e": ""}, "is_empty", "e")
    assert detectors.detect_json(doc, "timestamp_unix", "n")
    assert detectors.detect_json({"t": "2024-03-08T10:00:00Z"}, "timestamp_rfc3339", "t")
    assert not detectors.detect_json({"t": "2024-13-08T10:00:00Z"}, "timestamp_rfc3339", "t")
    assert detectors.detect_json({"v": "1.2.3-rc.1"}, "semver", "v")
    custom = detectors.detect_json(doc, "custom", "", func=lambda value, path: value == 7)
    assert [m.dotted for m in custom] == ["n"]


def test_pii_keyword_modes() -> None:
    doc = {"user": {"password": "x", "home_address": "y", "colour": "z"}}
    exact = {m.dotted for m in detectors.detect_json(doc, "pii_keyword", mode="performance")}
    loose = {m.dotted for m in detectors.detect_json(doc, "pii_keyword", mode="accuracy")}
    assert exact == {"user.password"}
    assert loose == {"user.password", "user.home_address"}


def test_unknown_detector_is_refused_with_the_list() -> None:
    with pytest.raises(ValueError, match="email"):
        Step("x", "detect", {"type": "emali"})


# -- transforms -----------------------------------------------------------------------------------


def test_mask_keeps_the_streamdal_prefix_and_obfuscate_uses_constants() -> None:
    assert transforms.mask_value("foobarbazqu") == "fo*********"
    assert transforms.obfuscate_value(5) == 123123123
    assert transforms.obfuscate_value(1.5) == 123123.123
    assert transforms.obfuscate_value("a").startswith("sha256:")
    assert transforms.truncate_value("abcdef", length=2) == "ab"
    assert transforms.truncate_value("abcdefghij", percent=50) == "abcde"
    doc = {"a": {"b": 1, "c": 2}, "d": 3}
    assert transforms.extract(doc, ["a.b", "d"]) == {"a": {"b": 1}, "d": 3}
    assert transforms.extract(doc, ["a.b"], flatten=True) == {"b": 1}


def test_mask_keeps_a_numbers_type_and_its_leading_digits() -> None:
    # ints and floats follow one rule: the leading keep_ratio of the digits stay, the rest are 0
    assert transforms.mask_value(329328102938) == 320000000000
    assert transforms.mask_value(-98765) == -90000
    masked = transforms.mask_value(16.990000000000002)
    assert isinstance(masked, float) and masked == 16.9
    assert transforms.mask_value(-123456.789) == -100000.0
    assert transforms.mask_value(1.2345678e-07) == 1e-07
    assert transforms.mask_value(12.5, keep_ratio=1.0) == 12.5


def test_pii_any_leaves_float_prices_alone() -> None:
    # 16.990000000000002 holds the Luhn-valid run 990000000000002: not a card number
    doc = {"price": 16.990000000000002, "total": 1234.5678901234567, "email": "a@b.c"}
    found = detectors.detect_json(doc, "pii_any")
    assert [m.dotted for m in found] == ["email"]
    for kind in ("credit_card", "phone"):
        assert detectors.detect_text("paid 16.990000000000002 and 0.2025550123", kind) == []
    assert detectors.detect_json({"card": 4111111111111111}, "pii_any")[0].type == "credit_card"
    engine = Engine()
    engine.set_pipelines("*", [mask_pii_pipeline()])
    result = engine.process(body(doc), PRODUCER)
    out = json.loads(result.body)
    assert out["price"] == 16.990000000000002 and out["total"] == 1234.5678901234567
    assert out["email"] == "a****"


def test_transform_on_explicit_paths_and_delete() -> None:
    engine = Engine()
    engine.set_pipelines(
        "*",
        [
            Pipeline(
                "p",
                "p",
                (
                    Step("obf", "transform", {"type": "obfuscate", "path": "user.name"}),
                    Step("rm", "transform", {"type": "delete", "path": "items.#.secret"}),
                    Step("cut", "transform", {"type": "truncate", "path": "note", "length": 3}),
                    Step("rep", "transform", {"type": "replace", "path": "v", "value": "x"}),
                ),
            )
        ],
    )
    doc = {
        "user": {"name": "ann"},
        "items": [{"secret": 1, "k": 1}, {"secret": 2}],
        "note": "abcdef",
        "v": 1,
    }
    result = engine.process(body(doc), PRODUCER)
    out = json.loads(result.body or b"")
    assert out["user"]["name"].startswith("sha256:")
    assert out["items"] == [{"k": 1}, {}]
    assert out["note"] == "abc"
    assert out["v"] == "x"
    assert result.modified


def test_plaintext_pipeline_masks_spans() -> None:
    engine = Engine()
    engine.set_pipelines(
        "*",
        [
            Pipeline(
                "t",
                "t",
                (
                    Step("find", "detect", {"type": "email"}),
                    Step("mask", "transform", {"type": "mask"}, dynamic=True),
                ),
                data_format="plaintext",
            )
        ],
    )
    result = engine.process(b"contact bob@example.com now", PRODUCER)
    assert result.body == b"contact *************** now"


# -- validation, conditions, drop -----------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {"id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
}


def validate_or_drop() -> Pipeline:
    return Pipeline(
        "schema",
        "schema",
        (
            Step(
                "valid",
                "validate",
                {"type": "json_schema", "schema": SCHEMA},
                on_false=Cond(drop=True, notify=True, metadata={"rule": "schema"}),
            ),
        ),
    )


@pytest.mark.parametrize("use_jsonschema", [True, False])
def test_schema_false_with_drop_condition_drops_and_counts(use_jsonschema: bool) -> None:
    engine = Engine(use_jsonschema=use_jsonschema)
    engine.set_pipelines(("*", "*", "consumer", "orders.*"), [validate_or_drop()])
    events: list[Event] = []
    engine.on_event(events.append)
    good = engine.process(body({"id": "a", "amount": 3}), CONSUMER)
    bad = engine.process(body({"id": "a", "amount": -1}), CONSUMER)
    assert not good.dropped and good.status == "true"
    assert bad.dropped and bad.status == "false" and "schema" in bad.drop_reason
    assert bad.metadata == {"rule": "schema"}
    snapshot = engine.metrics_snapshot()
    assert snapshot.value("dropped_total", operation_name="orders.eu.q") == 1
    assert snapshot.value("notify_total") == 1
    assert snapshot.value("messages_total") == 2
    assert [type(e) for e in events] == [RuleMatched, Dropped]


def test_builtin_schema_subset() -> None:
    assert validate_subset({"id": "x", "amount": 1}, SCHEMA) == []
    errors = validate_subset({"amount": "1"}, SCHEMA)
    assert any("required" in e for e in errors) and any("type" in e for e in errors)
    assert SchemaValidator(SCHEMA, use_jsonschema=False).engine == "builtin"


def test_non_json_input_is_false_with_invalid_json() -> None:
    engine = Engine()
    engine.set_pipelines("*", [validate_or_drop()])
    result = engine.process(b"not json", CONSUMER)
    assert result.status == "false" and result.message == "invalid json"


def test_abort_current_and_abort_all() -> None:
    detect_true = {"type": "has_field", "path": "a"}
    marker = Step("mark", "transform", {"type": "replace", "path": "a", "value": 2})
    current = Pipeline(
        "p1",
        "p1",
        (Step("s", "detect", detect_true, on_true=Cond(abort="current")), marker),
    )
    second = Pipeline(
        "p2", "p2", (Step("t", "transform", {"type": "replace", "path": "b", "value": 9}),)
    )
    engine = Engine()
    engine.set_pipelines("*", [current, second])
    out = json.loads(engine.process(body({"a": 1, "b": 1}), PRODUCER).body or b"")
    assert out == {"a": 1, "b": 9}  # p1 stopped before its marker; p2 ran
    stop_all = Pipeline(
        "p1",
        "p1",
        (Step("s", "detect", detect_true, on_true=Cond(abort="ABORT_CONDITION_ABORT_ALL")),),
    )
    engine.set_pipelines("*", [stop_all, second])
    out = json.loads(engine.process(body({"a": 1, "b": 1}), PRODUCER).body or b"")
    assert out == {"a": 1, "b": 1}


def test_step_exception_is_error_and_becomes_fail_verdict() -> None:
    def boom(value: Any) -> bool:
        raise RuntimeError("bad validator")

    engine = Engine()
    engine.set_pipelines(
        "*", [Pipeline("p", "p", (Step("v", "validate", {"type": "callable", "func": boom}),))]
    )
    events: list[Event] = []
    engine.on_event(events.append)
    result = engine.process(body({}), PRODUCER)
    assert result.status == "error" and "bad validator" in result.message
    assert isinstance(events[-1], Failed)
    assert engine.metrics_snapshot().value("errors_total") == 1


def test_step_time_budget_is_enforced() -> None:
    def slow(value: Any) -> bool:
        time.sleep(0.05)
        return True

    engine = Engine(step_timeout=0.01)
    engine.set_pipelines(
        "*", [Pipeline("p", "p", (Step("v", "validate", {"type": "callable", "func": slow}),))]
    )
    result = engine.process(body({}), PRODUCER)
    assert result.status == "error" and "time budget" in result.message


def test_pipeline_time_budget_stops_the_remaining_steps() -> None:
    def slow(value: Any) -> bool:
        time.sleep(0.03)
        return True

    steps = tuple(Step(f"v{i}", "validate", {"type": "callable", "func": slow}) for i in range(5))
    engine = Engine(pipeline_timeout=0.05)
    engine.set_pipelines("*", [Pipeline("p", "p", steps)])
    result = engine.process(body({}), PRODUCER)
    assert result.status == "error"
    assert len([s for s in result.steps if s.status == "true"]) < 5


def test_size_limit_skips_and_counts() -> None:
    engine = Engine(max_payload_size=10)
    engine.set_pipelines("*", [mask_pii_pipeline()])
    payload = body({"email": "someone@example.com"})
    result = engine.process(payload, PRODUCER)
    assert result.status == "skipped" and result.body == payload
    assert engine.metrics_snapshot().value("oversize_total") == 1


def test_sampling_limits_processing_per_interval() -> None:
    engine = Engine(sampling=(2, 60.0))
    engine.set_pipelines("*", [mask_pii_pipeline()])
    statuses = [engine.process(body({"e": "a@example.com"}), PRODUCER).status for _ in range(5)]
    assert statuses == ["true", "true", "sampled", "sampled", "sampled"]
    assert engine.metrics_snapshot().value("sampled_total") == 3


def test_dry_run_reports_but_keeps_the_original() -> None:
    engine = Engine(dry_run=True)
    engine.set_pipelines("*", [mask_pii_pipeline()])
    from pika_streamdal.context import MessageContext

    payload = body({"e": "a@example.com"})
    ctx = MessageContext("publish", "basic_publish", payload, audience=PRODUCER)
    verdict = engine.intercept(ctx)
    assert verdict.passed and ctx.body == payload


def test_observe_mode_never_modifies_and_reports_in_background() -> None:
    engine = Engine(mode="observe")
    engine.set_pipelines("*", [mask_pii_pipeline()])
    from pika_streamdal.context import MessageContext

    payload = body({"e": "a@example.com"})
    ctx = MessageContext("publish", "basic_publish", payload, audience=PRODUCER)
    assert engine.intercept(ctx).passed and ctx.body == payload
    assert engine.drain(5.0)
    assert engine.metrics_snapshot().value("modified_total") == 1
    engine.close()
    assert engine._observer is not None and not engine._observer.is_alive()


def test_observe_queue_overflow_is_counted() -> None:
    engine = Engine(mode="observe", observe_queue_size=1)
    engine.set_pipelines("*", [mask_pii_pipeline()])
    engine._observer = object()  # type: ignore[assignment] # no worker: the queue stays full
    for _ in range(3):
        engine.process(body({"e": "a@example.com"}), PRODUCER)
    assert engine.metrics_snapshot().value("observe_dropped_total") == 2


# -- audiences ------------------------------------------------------------------------------------


def test_audience_patterns_with_dots_and_types() -> None:
    match = as_pattern(("*", "rabbitmq", "consumer", "orders.*")).matcher()
    assert match(CONSUMER)
    assert not match(PRODUCER)
    exact = as_pattern(Audience("svc", "rabbitmq", 1, "a.b*c")).matcher()
    assert exact(Audience("svc", "rabbitmq", 1, "a.b*c"))
    assert not exact(Audience("svc", "rabbitmq", 1, "a.bXc"))
    assert as_pattern("orders.eu/*").matcher()(PRODUCER)


def test_bindings_are_copy_on_write_and_audiences_are_registered() -> None:
    engine = Engine()
    engine.set_pipelines("orders.*", [mask_pii_pipeline("a")])
    assert [p.id for p in engine.pipelines_for(CONSUMER)] == ["a"]
    engine.set_pipelines("orders.*", [mask_pii_pipeline("b")])
    assert [p.id for p in engine.pipelines_for(CONSUMER)] == ["b"]
    engine.set_pipelines("orders.*", [])
    assert engine.pipelines_for(CONSUMER) == ()
    engine.process(b"{}", CONSUMER)
    engine.process(b"{}", CONSUMER)
    (info,) = engine.audiences()
    assert info.audience == CONSUMER and info.messages == 2


# -- schema inference -----------------------------------------------------------------------------


def test_infer_schema_merges_and_emits_schema_changed() -> None:
    engine = Engine(infer_schemas=True)
    changes: list[SchemaChanged] = []
    engine.on_event(lambda e: changes.append(e) if isinstance(e, SchemaChanged) else None)
    engine.process(body({"a": 1, "b": "x"}), PRODUCER)
    engine.process(body({"a": 2, "b": "y"}), PRODUCER)  # same shape: no event
    engine.process(body({"a": 1.5}), PRODUCER)
    assert len(changes) == 2 and changes[0].old is None
    schema = engine.schema(PRODUCER)
    assert schema is not None
    assert schema["required"] == ["a"] and schema["properties"]["a"]["type"] == "number"


def test_kv_step_against_a_mapping() -> None:
    engine = Engine(kv={"tenant-1": True})
    step = Step(
        "kv", "kv", {"type": "kv_exists", "key_from_path": "tenant"}, on_false=Cond(drop=True)
    )
    engine.set_pipelines("*", [Pipeline("p", "p", (step,))])
    assert not engine.process(body({"tenant": "tenant-1"}), PRODUCER).dropped
    assert engine.process(body({"tenant": "tenant-2"}), PRODUCER).dropped


def test_http_steps_are_disabled_by_default() -> None:
    engine = Engine()
    engine.set_pipelines(
        "*", [Pipeline("p", "p", (Step("h", "http", {"url": "http://127.0.0.1:9"}),))]
    )
    result = engine.process(b"{}", PRODUCER)
    assert result.status == "error" and "allow_http_steps" in result.message


# -- tail -----------------------------------------------------------------------------------------


def test_tail_gets_original_and_new_payloads() -> None:
    engine = Engine()
    engine.set_pipelines("*", [mask_pii_pipeline()])
    sub = engine.tail("orders.*")
    payload = body({"e": "someone@example.com"})
    engine.process(payload, PRODUCER)
    engine.process(payload, Audience("svc", "rabbitmq", 2, "other"))  # not matched
    event = sub.get(timeout=1)
    assert event is not None
    assert event.original == payload and event.new is not None and b"som" in event.new
    assert b"someone@" not in event.new and event.pipeline_ids == ("mask",)
    assert sub.get(timeout=0.01) is None
    sub.close()
    assert list(sub) == []


def test_tail_sampling_and_overflow_are_counted() -> None:
    engine = Engine()
    sampled = engine.tail("*", sample_rate=2, sample_interval=60)
    small = engine.tail("*", maxsize=3)
    for i in range(10):
        engine.process(body({"i": i}), PRODUCER)
    assert sampled.delivered == 2 and sampled.sampled_out == 8
    assert small.delivered == 3 and small.dropped == 7
    assert engine.metrics_snapshot().value("tail_dropped_total") == 7
    first = small.get(timeout=1)
    assert first is not None and json.loads(first.original or b"") == {"i": 0}


def test_tail_redaction_options() -> None:
    engine = Engine()
    engine.set_pipelines("*", [mask_pii_pipeline()])
    hidden = engine.tail("*", include_original=False)
    redacted = engine.tail("*", redact_original=True)
    engine.process(body({"e": "someone@example.com"}), PRODUCER)
    a, b = hidden.get(1), redacted.get(1)
    assert a is not None and a.original is None
    assert b is not None and b.original == b.new


# -- loading --------------------------------------------------------------------------------------

CONFIG = {
    "bindings": [
        {
            "audience": {"operation_type": "producer", "operation_name": "orders.*"},
            "pipelines": [
                {
                    "id": "mask-emails",
                    "steps": [
                        {"name": "find", "kind": "detect", "type": "email"},
                        {"name": "mask", "kind": "transform", "type": "mask", "dynamic": True},
                    ],
                }
            ],
        }
    ]
}


def test_load_dict_and_round_trip() -> None:
    engine = Engine()
    engine.load(CONFIG)
    ((pattern, pipelines),) = engine.bindings()
    assert pattern.operation_type == "2"
    assert Pipeline.from_dict(pipelines[0].to_dict()) == pipelines[0]
    out = engine.process(body({"e": "someone@example.com"}), PRODUCER).body or b""
    assert b"someone@" not in out


def test_load_file_and_hot_reload(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.json"
    path.write_text(json.dumps(CONFIG))
    engine = Engine()
    engine.load_file(str(path), watch=True, interval=0.05)
    try:
        assert [p.id for p in engine.pipelines_for(PRODUCER)] == ["mask-emails"]
        changed = json.loads(json.dumps(CONFIG))
        changed["bindings"][0]["pipelines"][0]["id"] = "v2"
        time.sleep(0.02)
        path.write_text(json.dumps(changed))
        deadline = time.monotonic() + 5
        while engine.pipelines_for(PRODUCER)[0].id != "v2" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.pipelines_for(PRODUCER)[0].id == "v2"
        path.write_text("{broken")  # a bad edit keeps what is in force
        time.sleep(0.3)
        assert engine.pipelines_for(PRODUCER)[0].id == "v2"
    finally:
        engine.close()


def test_bad_config_names_the_problem() -> None:
    with pytest.raises(ValueError, match="kind"):
        Engine().load({"pipelines": [{"id": "x", "steps": [{"kind": "nope", "type": "email"}]}]})
    with pytest.raises(ValueError, match="abort"):
        Cond(abort="sometimes")


def test_payload_mode_paths_on_rule_matched() -> None:
    engine = Engine(payload_mode="paths", payload_paths=["id"])
    step = Step("has", "detect", {"type": "has_field", "path": "id"}, on_true=Cond(notify=True))
    engine.set_pipelines("*", [Pipeline("p", "p", (step,))])
    seen: list[Event] = []
    engine.on_event(seen.append)
    engine.process(body({"id": "x", "secret": "s"}), PRODUCER)
    (event,) = seen
    assert isinstance(event, RuleMatched) and event.payload == {"id": ["x"]}
