"""Side-by-side results of several architectures trained with several seeds, as the paper's tables.

One row per architecture: mean and sample standard deviation (n - 1) of the final test top-1
over its seeds, the mean best top-1, and the cost (the same for every seed).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["summarize_runs", "markdown_table", "write_table"]


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize_runs(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group run summaries (``summary.json`` contents) by architecture, in first-seen order."""
    by_arch: dict[str, list[dict]] = {}
    for s in summaries:
        by_arch.setdefault(s["arch"], []).append(s)
    rows = []
    for arch, runs in by_arch.items():
        mean, std = _mean_std([r["test_top1"] for r in runs])
        best, _ = _mean_std([r["best_test_top1"] for r in runs])
        rows.append({"arch": arch, "seeds": [r["seed"] for r in runs], "test_top1_mean": mean, "test_top1_std": std,
                     "best_test_top1_mean": best, "params": runs[0]["params"], "madds": runs[0]["madds"],
                     "epochs": runs[0]["epochs"], "train_images": runs[0]["train_images"],
                     "test_images": runs[0]["test_images"]})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| arch | seeds | test top-1 (%) | best top-1 (%) | params (M) | MAdds (M) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        spread = f" ± {r['test_top1_std']:.2f}" if r["test_top1_std"] is not None else ""
        lines.append(f"| {r['arch']} | {len(r['seeds'])} | {r['test_top1_mean']:.2f}{spread} | "
                     f"{r['best_test_top1_mean']:.2f} | {r['params'] / 1e6:.3f} | {r['madds'] / 1e6:.1f} |")
    return "\n".join(lines) + "\n"


def write_table(folder: str | os.PathLike, summaries: list[dict[str, Any]]) -> str:
    """Write ``table.json`` (per-arch rows and every run) and ``table.md``; return the markdown."""
    folder = Path(folder)
    rows = summarize_runs(summaries)
    runs = [{k: v for k, v in s.items() if k != "genotype"} for s in summaries]
    for name, text in (("table.json", json.dumps({"archs": rows, "runs": runs}, indent=1) + "\n"),
                       ("table.md", markdown_table(rows))):
        tmp = folder / f"{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, folder / name)
    return markdown_table(rows)
