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


def _cells(row: dict[str, Any]) -> list[str]:
    if row.get("median") is None:
        return ["n/a", "", "", "", row.get("reason", "")]
    spread = f"{_number(row['min'])}-{_number(row['max'])}"
    return [
        _number(row["median"]),
        spread,
        _ratio(row, "x_reference"),
        _ratio(row, "x_baseline"),
        row.get("note", ""),
    ]


def text_table(summary: Summary, labels: dict[str, str]) -> str:
    """The terminal table: one block per scenario metric."""
    lines: list[str] = []
    width = max([len(label) for label in labels.values()] + [6])
    for block in summary.values():
        better = "higher" if block["higher_is_better"] else "lower"
        lines.append("")
        lines.append(f"{block['title']}, {better} is better")
        header = ["median", "min-max", "x ref", "x C", "note"]
        lines.append(
            f"  {'client':<{width}}  {header[0]:>11}  {header[1]:>21}  {header[2]:>7}  "
            f"{header[3]:>7}  {header[4]}"
        )
        for name, row in block["rows"].items():
            c = _cells(row)
            lines.append(
                f"  {labels[name]:<{width}}  {c[0]:>11}  {c[1]:>21}  {c[2]:>7}  {c[3]:>7}  {c[4]}"
            )
    return "\n".join(lines)


def markdown(summary: Summary, labels: dict[str, str], reference: str, baseline: str) -> str:
    """The same tables in Markdown, for docs/benchmarks.md."""
    parts: list[str] = []
    for block in summary.values():
        better = "higher" if block["higher_is_better"] else "lower"
        parts.append(f"**{block['title']}**, {better} is better\n")
        parts.append(
            f"| client | median | min-max | x {labels.get(reference, reference)} "
            f"| x {labels.get(baseline, baseline)} | note |"
        )
        parts.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for name, row in block["rows"].items():
            cells = [labels[name]] + [cell.replace("|", "/") for cell in _cells(row)]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)
