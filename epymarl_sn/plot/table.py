"""The final-performance table: per task and group, the mean over runs of each run's
final value (its mean over the task grid's last N points) with its 95% t-interval
(df = runs - 1), and the IQM; written as markdown (for reading) and CSV (full
precision, for checking). No bootstrap: the same runs give the same bytes."""

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import scipy.stats

from epymarl_sn.plot.aggregate import number, t_interval
from epymarl_sn.plot.panels import Panel, final_values
from epymarl_sn.tracking.atomic import atomic_open

CSV_COLUMNS = (
    "task",
    "group",
    "runs",
    "points",
    "from_step",
    "step",
    "mean",
    "mean_low",
    "mean_high",
    "df",
    "iqm",
)


@dataclass
class Row:
    task: str
    group: str
    runs: int
    points: int  # grid points a final value averages
    from_step: float  # the first and last step they span
    step: float
    mean: float
    mean_low: float  # 95% t-interval
    mean_high: float
    df: int
    iqm: float


def final_rows(panels: Sequence[Panel], final_points: int) -> list[Row]:
    rows = []
    for panel in panels:
        points, start, stop = panel.final_window(final_points)
        for label, curve in panel.curves.items():
            finals = final_values(panel, curve, final_points)
            mean, low, high = (float(v[0]) for v in t_interval(finals[:, None]))
            iqm = float(scipy.stats.trim_mean(finals, 0.25))
            rows.append(
                Row(
                    panel.task,
                    label,
                    curve.runs,
                    points,
                    start,
                    stop,
                    mean,
                    low,
                    high,
                    curve.runs - 1,
                    iqm,
                )
            )
    return rows


def write_csv(rows: Iterable[Row], path: Union[str, Path]) -> None:
    with atomic_open(path, newline="") as f:
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
        f"Final {metric}: each run's mean over the last points of its task's common "
        "grid (the steps given), over runs: the mean with its 95% t-interval (df = "
        "runs - 1; n/a with 1 run), and the IQM (25% trimmed mean).",
        "",
        f"| task | {group_by} | runs | grid points | steps | mean | mean 95% CI | df | IQM |",
        "|---|---|---:|---:|---|---:|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.task} | {r.group} | {r.runs} | {r.points} | "
            f"{r.from_step:.0f}-{r.step:.0f} | {r.mean:.4g} | "
            f"[{number(r.mean_low, '.4g')}, {number(r.mean_high, '.4g')}] | {r.df} | {r.iqm:.4g} |"
        )
    return "\n".join(lines) + "\n"
