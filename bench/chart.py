"""The PNG chart of a benchmark summary: one panel per scenario metric, bars of medians with
min-max whiskers. Also runnable on a saved result: ``python -m bench.chart results.json out.png``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from bench.report import Summary


def draw(summary: Summary, labels: dict[str, str], path: str, title: str) -> None:
    """Write the chart of ``summary`` to ``path`` (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = list(summary.values())
    columns = 3
    rows = max(1, math.ceil(len(blocks) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.6 * rows), squeeze=False)
    for index, block in enumerate(blocks):
        axis = axes[index // columns][index % columns]
        names = [name for name, row in block["rows"].items() if row.get("median") is not None]
        medians = [block["rows"][name]["median"] for name in names]
        low = [m - block["rows"][n]["min"] for n, m in zip(names, medians)]
        high = [block["rows"][n]["max"] - m for n, m in zip(names, medians)]
        colours = [
            "#444444" if name == "c" else "#d9534f" if name.startswith("pika-core") else "#5b8fd9"
            for name in names
        ]
        positions = list(range(len(names)))
        axis.barh(positions, medians, xerr=[low, high], color=colours, capsize=3)
        axis.set_yticks(positions)
        axis.set_yticklabels([labels.get(name, name) for name in names], fontsize=8)
        axis.invert_yaxis()
        better = "higher" if block["higher_is_better"] else "lower"
        axis.set_title(f"{block['title']} - {better} is better", fontsize=9)
        axis.tick_params(axis="x", labelsize=8)
    for index in range(len(blocks), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bench.chart RESULTS.json OUT.png\n")
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        data: Any = json.load(handle)
    labels = {client["name"]: client["label"] for client in data["clients"]}
    draw(data["summary"], labels, argv[1], data["suite"]["title"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
