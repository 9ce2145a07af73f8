"""The final-performance table: per task and group, the IQM and mean over runs of
each run's value at the task's last common step, with 95% stratified-bootstrap CIs;
written as markdown (for reading) and CSV (full precision, for checking)."""

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from epymarl_sn.plot.aggregate import interval_estimates
from epymarl_sn.plot.panels import Panel

CSV_COLUMNS = (
    "task",
    "group",
    "runs",
    "step",
    "iqm",
    "iqm_low",
    "iqm_high",
    "mean",
    "mean_low",
    "mean_high",
)


@dataclass
class Row:
    task: str
    group: str
    runs: int
    step: float
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    mean_low: float
    mean_high: float


def final_rows(panels: Sequence[Panel], reps: int, seed: int) -> list[Row]:
    rows = []
    for panel in panels:
        for label, curve in panel.curves.items():
            scores = curve.finals[:, None]  # (runs, 1 task)
            stats = {}
            for aggregate in ("iqm", "mean"):
                point, low, high = interval_estimates(scores, aggregate, reps, seed)
                stats.update(
                    {
                        aggregate: float(point[0]),
                        f"{aggregate}_low": float(low[0]),
                        f"{aggregate}_high": float(high[0]),
                    }
                )
            rows.append(Row(panel.task, label, curve.runs, float(panel.grid[-1]), **stats))
    return rows


def write_csv(rows: Iterable[Row], path: Union[str, Path]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    repr(v) if isinstance(v, float) else v
                    for v in (getattr(row, c) for c in CSV_COLUMNS)
                ]
            )


def markdown(rows: Iterable[Row], metric: str, group_by: str) -> str:
    lines = [
        f"Final {metric}: value at the last step every run of the task reached, "
        "over runs; 95% stratified-bootstrap CIs.",
        "",
        f"| task | {group_by} | runs | step | IQM | IQM 95% CI | mean | mean 95% CI |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.task} | {r.group} | {r.runs} | {r.step:.0f} | {r.iqm:.4g} | "
            f"[{r.iqm_low:.4g}, {r.iqm_high:.4g}] | {r.mean:.4g} | "
            f"[{r.mean_low:.4g}, {r.mean_high:.4g}] |"
        )
    return "\n".join(lines) + "\n"
