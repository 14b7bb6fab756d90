"""Summaries of the benchmark's samples: medians, min-max, ratios, as text and as Markdown."""

from __future__ import annotations

import statistics
from typing import Any, Dict

from bench.scenarios import Scenario

Summary = Dict[str, Any]


def summarise(
    samples: list[dict[str, Any]],
    scenarios: list[Scenario],
    clients: list[dict[str, Any]],
    reference: str | None,
    baseline: str | None,
) -> Summary:
    """Per scenario and metric, per client: median, min, max, runs, ratios, or n/a and why."""
    summary: Summary = {}
    for scenario in scenarios:
        for metric in scenario.metrics:
            block: dict[str, Any] = {
                "scenario": scenario.name,
                "metric": metric.key,
                "title": f"{scenario.name}: {metric.title}"
                + (f" ({metric.unit})" if metric.unit != metric.title else ""),
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "baseline": baseline,
                "rows": {},
            }
            for client in clients:
                mine = [
                    s
                    for s in samples
                    if s["client"] == client["name"] and s["scenario"] == scenario.name
                ]
                values = [
                    s["metrics"][metric.key]
                    for s in mine
                    if s["status"] == "ok" and s["metrics"].get(metric.key) is not None
                ]
                notes = sorted({s.get("note", "") for s in mine if s.get("note")})
                if values:
                    block["rows"][client["name"]] = {
                        "median": statistics.median(values),
                        "min": min(values),
                        "max": max(values),
                        "runs": len(values),
                        "note": "; ".join(notes),
                    }
                else:
                    reasons = sorted({s.get("reason", "") for s in mine if s.get("reason")})
                    block["rows"][client["name"]] = {
                        "median": None,
                        "reason": "; ".join(reasons) or "not run",
                    }
            for key, name in (("x_reference", reference), ("x_baseline", baseline)):
                ref = block["rows"].get(name or "", {}).get("median")
                for row in block["rows"].values():
                    if row.get("median") is not None and ref:
                        row[key] = row["median"] / ref
            summary[f"{scenario.name}.{metric.key}"] = block
    return summary


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return f"{value:.2f}x" if value is not None else "-"


def _cells(row: dict[str, Any], with_baseline: bool = True) -> list[str]:
    """median, min-max, x reference, [x baseline,] note."""
    if row.get("median") is None:
        return ["n/a", "", "", ""] + ([""] if with_baseline else []) + [row.get("reason", "")]
    spread = f"{_number(row['min'])}-{_number(row['max'])}"
    cells = [_number(row["median"]), spread, _ratio(row, "x_reference")]
    if with_baseline:
        cells.append(_ratio(row, "x_baseline"))
    return cells + [row.get("note", "")]


def text_table(summary: Summary, labels: dict[str, str]) -> str:
    """The terminal table: one block per scenario metric."""
    lines: list[str] = []
    width = max([len(label) for label in labels.values()] + [6])
    for block in summary.values():
        better = "higher" if block["higher_is_better"] else "lower"
        with_baseline = block.get("baseline") is not None
        lines.append("")
        lines.append(f"{block['title']}, {better} is better")
        header = ["median", "min-max", "x ref"] + (["x C"] if with_baseline else [])
        widths = [11, 21, 7, 7]
        lines.append(
            f"  {'client':<{width}}  "
            + "  ".join(f"{cell:>{w}}" for cell, w in zip(header, widths))
            + "  note"
        )
        for name, row in block["rows"].items():
            cells = _cells(row, with_baseline)
            lines.append(
                f"  {labels[name]:<{width}}  "
                + "  ".join(f"{cell:>{w}}" for cell, w in zip(cells[:-1], widths))
                + f"  {cells[-1]}"
            )
    return "\n".join(lines)


def markdown(summary: Summary, labels: dict[str, str], reference: str, baseline: str | None) -> str:
    """The same tables in Markdown, for docs/benchmarks.md (no baseline column without one)."""
    parts: list[str] = []
    for block in summary.values():
        better = "higher" if block["higher_is_better"] else "lower"
        parts.append(f"**{block['title']}**, {better} is better\n")
        ratio_headers = [f"x {labels.get(reference, reference)}"]
        if baseline is not None:
            ratio_headers.append(f"x {labels.get(baseline, baseline)}")
        first = "client" if baseline is not None else "setup"
        parts.append(f"| {first} | median | min-max | " + " | ".join(ratio_headers) + " | note |")
        parts.append(
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in ratio_headers) + " | --- |"
        )
        for name, row in block["rows"].items():
            cells = [labels[name]] + [
                cell.replace("|", "/") for cell in _cells(row, baseline is not None)
            ]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)
