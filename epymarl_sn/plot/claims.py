"""The paper's claims as numbers ("converges faster", "same final performance"),
per task, from each run's curve on the task's common grid (after --smooth, if any):

- steps to F: the env steps at which the run's curve first reaches its first value
  plus F times its rise to its final value (F = 0.5, 0.8: 50% and 80% of the way
  to its final return; on RWARE, whose returns start at 0, F times the final
  return), linearly interpolated between grid points; undefined for a run whose
  final value equals its first;
- final: the run's value at the grid's last step;
- mean over training: the run's mean over the grid (evenly spaced steps).

Each group is compared with the baseline group by the difference of their means
over seeds, with a 95% Welch t-interval. Why Welch's t: the runs of two variants are
independent samples with their own variances, and with 4 seeds a percentile
bootstrap interval is too narrow (it cannot reach beyond the few resampled means),
while the t-interval accounts for the small sample.
"""

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import scipy.stats

from epymarl_sn.errors import PlotError
from epymarl_sn.plot.panels import Panel

# the paper's baseline, when the groups are the presets
DEFAULT_BASELINE = "mappo_paper"


def steps_to(grid: np.ndarray, values: np.ndarray, fraction: float) -> float:
    """The first step at which `values` gets `fraction` of the way from its first
    to its last value (NaN when they are equal)."""
    first, final = values[0], values[-1]
    rise = final - first
    if rise == 0:
        return math.nan
    progress = (values - first) / rise  # 0 at the start, 1 at the end
    k = int(np.argmax(progress >= fraction))  # the last point always qualifies
    if k == 0:
        return float(grid[0])
    # where the segment from point k-1 to k crosses the fraction
    share = (fraction - progress[k - 1]) / (progress[k] - progress[k - 1])
    return float(grid[k - 1] + share * (grid[k] - grid[k - 1]))


@dataclass
class RunRow:
    task: str
    group: str
    seed: object
    run: str
    first: float
    final: float
    mean: float
    steps: dict[float, float] = field(default_factory=dict)  # fraction -> steps to it


@dataclass
class Difference:
    task: str
    measure: str
    group: str
    baseline: str
    runs: int
    baseline_runs: int
    value: float  # the group's mean over its runs
    baseline_value: float
    difference: float  # value - baseline_value
    low: float  # 95% Welch t-interval of the difference
    high: float


def run_rows(panels: Sequence[Panel], fractions: Sequence[float]) -> list[RunRow]:
    rows = []
    for panel in panels:
        for label, curve in panel.curves.items():
            for run, values in zip(curve.members, curve.aligned):
                rows.append(
                    RunRow(
                        panel.task,
                        label,
                        run.get("seed"),
                        str(run.id),
                        float(values[0]),
                        float(values[-1]),
                        float(values.mean()),
                        {f: steps_to(panel.grid, values, f) for f in fractions},
                    )
                )
    return rows


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """95% Welch t-interval of mean(a) - mean(b); NaNs when either has under 2 runs
    or both have no spread."""
    if len(a) < 2 or len(b) < 2 or (np.var(a) == 0 and np.var(b) == 0):
        return math.nan, math.nan
    ci = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return float(ci.low), float(ci.high)


def measures(fractions: Sequence[float]) -> list[str]:
    return [*(f"steps to {f:.0%}" for f in fractions), "final", "mean over training"]


def measure_of(row: RunRow, measure: str, fractions: Sequence[float]) -> float:
    for f in fractions:
        if measure == f"steps to {f:.0%}":
            return row.steps[f]
    return row.final if measure == "final" else row.mean


def baseline_of(panel: Panel, baseline: Optional[str]) -> str:
    labels = list(panel.curves)
    if baseline is None:
        return DEFAULT_BASELINE if DEFAULT_BASELINE in labels else labels[0]
    if baseline not in labels:
        raise PlotError(
            f"--baseline {baseline} is not a group of task {panel.task}; its groups: "
            + ", ".join(labels)
        )
    return baseline


def sample(
    rows: Sequence[RunRow], task: str, group: str, measure: str, fractions: Sequence[float]
) -> np.ndarray:
    """A measure over a group's runs of a task, those where it is defined."""
    values = [
        measure_of(r, measure, fractions) for r in rows if r.task == task and r.group == group
    ]
    return np.array([v for v in values if not math.isnan(v)])


def differences(
    panels: Sequence[Panel],
    rows: Sequence[RunRow],
    fractions: Sequence[float],
    baseline: Optional[str],
) -> list[Difference]:
    found = []
    for panel in panels:
        base = baseline_of(panel, baseline)
        for measure in measures(fractions):
            b = sample(rows, panel.task, base, measure, fractions)
            for label in panel.curves:
                if label == base:
                    continue
                a = sample(rows, panel.task, label, measure, fractions)
                value = float(a.mean()) if len(a) else math.nan
                base_value = float(b.mean()) if len(b) else math.nan
                low, high = welch(a, b)
                found.append(
                    Difference(
                        panel.task,
                        measure,
                        label,
                        base,
                        len(a),
                        len(b),
                        value,
                        base_value,
                        value - base_value,
                        low,
                        high,
                    )
                )
    return found


def _number(value: float, steps: bool) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if steps else f"{value:.4g}"


def markdown(
    diffs: Sequence[Difference],
    rows: Sequence[RunRow],
    metric: str,
    fractions: Sequence[float],
    smooth: int,
) -> str:
    smoothed = (
        f", each run smoothed by a rolling mean over {smooth} logged points" if smooth > 1 else ""
    )
    lines = [
        f"Convergence and final {metric}, per run on the task's common grid{smoothed}. "
        "Steps to F: env steps at which a run first gets F of the way from its first "
        "to its final value. Differences: group mean minus baseline mean over runs, "
        "95% Welch t-interval (n/a: under 2 runs with a value on a side, or no spread).",
        "",
        "| task | measure | group | runs | mean | baseline | runs | mean | difference | 95% CI |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for d in diffs:
        steps = d.measure.startswith("steps")
        lines.append(
            f"| {d.task} | {d.measure} | {d.group} | {d.runs} | {_number(d.value, steps)} | "
            f"{d.baseline} | {d.baseline_runs} | {_number(d.baseline_value, steps)} | "
            f"{_number(d.difference, steps)} | "
            f"[{_number(d.low, steps)}, {_number(d.high, steps)}] |"
        )
    heads = " | ".join(f"steps to {f:.0%}" for f in fractions)
    lines += [
        "",
        "Per run:",
        "",
        f"| task | group | seed | first | final | mean over training | {heads} |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * len(fractions),
    ]
    for r in rows:
        reach = " | ".join(_number(r.steps[f], True) for f in fractions)
        lines.append(
            f"| {r.task} | {r.group} | {r.seed} | {r.first:.4g} | {r.final:.4g} | "
            f"{r.mean:.4g} | {reach} |"
        )
    return "\n".join(lines) + "\n"


def write_csvs(
    diffs: Sequence[Difference],
    rows: Sequence[RunRow],
    fractions: Sequence[float],
    differences_path: Union[str, Path],
    runs_path: Union[str, Path],
) -> None:
    """Full precision: the differences, and the per-run values."""
    with open(differences_path, "w", newline="") as f:
        writer = csv.writer(f)
        columns = list(Difference.__dataclass_fields__)
        writer.writerow(columns)
        for d in diffs:
            writer.writerow([getattr(d, c) for c in columns])
    with open(runs_path, "w", newline="") as f:
        writer = csv.writer(f)
        heads = [f"steps_to_{f:g}" for f in fractions]
        writer.writerow(["task", "group", "seed", "run", "first", "final", "mean", *heads])
        for r in rows:
            writer.writerow(
                [r.task, r.group, r.seed, r.run, r.first, r.final, r.mean]
                + [r.steps[f] for f in fractions]
            )
