"""The paper's claims as numbers ("converges faster", "same final performance"),
per task, from each run's curve on the task's common grid (after --smooth, if any).

Primary measures (docs/rware_fig2.md, "Design and measures"):

- steps to T: the env steps at which the run's curve first reaches the value T,
  linearly interpolated between grid points (the grid's first step if it starts
  there); undefined for a run that never reaches T. T is common to every run of a
  task, so a run that ends higher is not penalised: values given per task
  (--thresholds), else fixed fractions of the task's best final value, the largest
  final value among all its runs, every group pooled (--threshold-fractions);
- AUC: the trapezoid integral of the curve over the grid divided by the grid's step
  span, the curve's mean height over training in the metric's units;
- final: the run's mean over the grid's last N points (--final-points).

Secondary: steps to F of own final, the steps at which the curve first gets F of
the way from its first value to its own final value. Biased against a run that
ends higher, which must climb further (on RWARE tiny-2ag final return and steps to
80% of it correlate at r = 0.81 over 8 runs); kept for continuity.

Each group is compared with the baseline group by the difference of their means
over runs, with a 95% Welch t-interval (its Welch-Satterthwaite degrees of freedom
shown) and the 80%-power minimum detectable effect of the two-sided 5% Welch test,
(t(0.975, df) + t(0.8, df)) x SE: the smallest true difference the runs would
detect with probability 0.8, given their spreads. Why Welch's t: the runs of two
variants are independent samples with their own variances, and with 4 seeds a
percentile bootstrap interval is too narrow. A difference is given only when every
run of both groups has the measure (a run that never reaches T is not imputed).
"""

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import scipy.stats

from epymarl_sn.errors import PlotError
from epymarl_sn.plot.aggregate import number
from epymarl_sn.plot.panels import Panel, final_values
from epymarl_sn.tracking.atomic import atomic_open


@dataclass(frozen=True)
class Thresholds:
    """--thresholds and --threshold-fractions: the values T of --claim's `steps to T`."""

    by_task: Mapping[str, tuple[float, ...]]  # a task's own values
    everywhere: tuple[float, ...]  # for the tasks not named (empty: use `fractions`)
    fractions: tuple[float, ...]  # of the task's best final value

    def check(self, tasks: Sequence[str]) -> None:
        unknown = sorted(set(self.by_task) - set(tasks))
        if unknown:
            raise PlotError(
                f"--thresholds names task {unknown[0]}, which no selected run has; "
                "the tasks: " + ", ".join(tasks)
            )


# the paper's baseline, when the groups are the presets
DEFAULT_BASELINE = "mappo_paper"
AUC = "AUC"
FINAL = "final"
POWER = 0.8  # of the minimum detectable effect


def steps_to_value(grid: np.ndarray, values: np.ndarray, target: float) -> float:
    """The first step at which `values` reaches `target` (NaN if it never does)."""
    reached = values >= target
    if not reached.any():
        return math.nan
    k = int(np.argmax(reached))
    if k == 0:
        return float(grid[0])
    # where the segment from point k-1 to k crosses the target
    share = (target - values[k - 1]) / (values[k] - values[k - 1])
    return float(grid[k - 1] + share * (grid[k] - grid[k - 1]))


def steps_to_own(grid: np.ndarray, values: np.ndarray, final: float, fraction: float) -> float:
    """The first step at which `values` gets `fraction` of the way from its first
    value to `final` (NaN when they are equal); for a falling curve, down to it."""
    rise = final - values[0]
    if rise == 0:
        return math.nan
    progress = (values - values[0]) / rise  # 0 at the start, 1 at the final value
    return steps_to_value(grid, progress, fraction)


def auc(grid: np.ndarray, values: np.ndarray) -> float:
    """The area under the curve divided by the grid's step span (its mean height);
    a grid of one point: that value."""
    if len(grid) < 2:
        return float(values[0])
    return float(np.trapezoid(values, grid) / (grid[-1] - grid[0]))


@dataclass
class TaskThresholds:
    task: str
    values: tuple[float, ...]
    how: str  # where they come from, for the table


def task_thresholds(panel: Panel, thresholds: Thresholds, final_points: int) -> TaskThresholds:
    if panel.task in thresholds.by_task:
        return TaskThresholds(panel.task, thresholds.by_task[panel.task], "given for the task")
    if thresholds.everywhere:
        return TaskThresholds(panel.task, thresholds.everywhere, "given for every task")
    best = max(
        float(final_values(panel, curve, final_points).max()) for curve in panel.curves.values()
    )
    shares = " and ".join(f"{f:.0%}" for f in thresholds.fractions)
    return TaskThresholds(
        panel.task,
        tuple(f * best for f in thresholds.fractions),
        f"{shares} of the task's best final value, {best:.4g} (every group's runs pooled)",
    )


def threshold_measure(value: float) -> str:
    return f"steps to {value:.4g}"


def own_measure(fraction: float) -> str:
    return f"steps to {fraction:.0%} of own final"


def task_measures(thresholds: TaskThresholds, fractions: Sequence[float]) -> list[str]:
    """A task's measures, primary first."""
    return [
        *map(threshold_measure, thresholds.values),
        AUC,
        FINAL,
        *map(own_measure, fractions),
    ]


@dataclass
class RunRow:
    task: str
    group: str
    seed: object
    run: str
    values: dict[str, float]  # measure -> value, in task_measures' order


@dataclass
class Difference:
    task: str
    measure: str
    group: str
    baseline: str
    runs: int  # runs with a value
    group_runs: int  # all the group's runs
    baseline_runs: int
    baseline_group_runs: int
    value: float  # the group's mean over its runs with a value
    baseline_value: float
    difference: float  # value - baseline_value; NaN unless every run has a value
    low: float  # 95% Welch t-interval of the difference
    high: float
    df: float  # Welch-Satterthwaite degrees of freedom
    mde: float  # minimum detectable effect at 80% power


def run_rows(
    panels: Sequence[Panel],
    thresholds: Mapping[str, TaskThresholds],
    fractions: Sequence[float],
    final_points: int,
) -> list[RunRow]:
    rows = []
    for panel in panels:
        grid = panel.grid
        for label, curve in panel.curves.items():
            finals = final_values(panel, curve, final_points)
            for run, values, final in zip(curve.members, curve.aligned, finals):
                measured = {
                    threshold_measure(t): steps_to_value(grid, values, t)
                    for t in thresholds[panel.task].values
                }
                measured[AUC] = auc(grid, values)
                measured[FINAL] = float(final)
                for f in fractions:
                    measured[own_measure(f)] = steps_to_own(grid, values, float(final), f)
                rows.append(RunRow(panel.task, label, run.get("seed"), str(run.id), measured))
    return rows


@dataclass
class Welch:
    low: float
    high: float
    df: float
    mde: float


def welch(a: np.ndarray, b: np.ndarray) -> Welch:
    """95% Welch t-interval of mean(a) - mean(b), its degrees of freedom and the
    80%-power minimum detectable effect; NaNs when either has under 2 runs or both
    have no spread."""
    va = np.var(a, ddof=1) / len(a) if len(a) > 1 else math.nan
    vb = np.var(b, ddof=1) / len(b) if len(b) > 1 else math.nan
    if math.isnan(va) or math.isnan(vb) or va + vb == 0:
        return Welch(math.nan, math.nan, math.nan, math.nan)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = scipy.stats.t.ppf(0.975, df)
    d = float(np.mean(a) - np.mean(b))
    mde = (t + scipy.stats.t.ppf(POWER, df)) * se
    return Welch(d - t * se, d + t * se, float(df), float(mde))


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


def sample(rows: Sequence[RunRow], task: str, group: str, measure: str) -> np.ndarray:
    """A measure over a group's runs of a task, NaN where a run has none."""
    return np.array([r.values[measure] for r in rows if r.task == task and r.group == group])


def differences(
    panels: Sequence[Panel],
    rows: Sequence[RunRow],
    thresholds: Mapping[str, TaskThresholds],
    fractions: Sequence[float],
    baseline: Optional[str],
) -> list[Difference]:
    found = []
    for panel in panels:
        base = baseline_of(panel, baseline)
        for measure in task_measures(thresholds[panel.task], fractions):
            b_all = sample(rows, panel.task, base, measure)
            b = b_all[~np.isnan(b_all)]
            for label in panel.curves:
                if label == base:
                    continue
                a_all = sample(rows, panel.task, label, measure)
                a = a_all[~np.isnan(a_all)]
                value = float(a.mean()) if len(a) else math.nan
                base_value = float(b.mean()) if len(b) else math.nan
                complete = len(a) == len(a_all) and len(b) == len(b_all)
                w = welch(a, b) if complete else Welch(math.nan, math.nan, math.nan, math.nan)
                found.append(
                    Difference(
                        panel.task,
                        measure,
                        label,
                        base,
                        len(a),
                        len(a_all),
                        len(b),
                        len(b_all),
                        value,
                        base_value,
                        value - base_value if complete else math.nan,
                        w.low,
                        w.high,
                        w.df,
                        w.mde,
                    )
                )
    return found


def _number(value: float, steps: bool) -> str:
    return number(value, ",.0f" if steps else ".4g")


def markdown(
    diffs: Sequence[Difference],
    rows: Sequence[RunRow],
    thresholds: Mapping[str, TaskThresholds],
    panels: Sequence[Panel],
    metric: str,
    final_points: int,
    smooth: int,
) -> str:
    smoothed = (
        f", each run smoothed by a rolling mean over {smooth} logged points" if smooth > 1 else ""
    )
    lines = [
        f"Convergence and final {metric}, per run on the task's common grid{smoothed}.",
        "",
        "Primary: steps to T, the env steps at which a run first reaches the value T "
        "(the same T for every run of a task); AUC, the area under the run's curve "
        "divided by the grid's step span (its mean height); final, the run's mean "
        "over the grid's last points. Secondary (biased against a run that ends "
        "higher): steps to F of own final, the env steps at which a run first gets F "
        "of the way from its first to its own final value.",
        "",
    ]
    for panel in panels:
        points, start, stop = panel.final_window(final_points)
        t = thresholds[panel.task]
        lines.append(
            f"- {panel.task}: T = {', '.join(f'{v:.4g}' for v in t.values)} ({t.how}); "
            f"final: the mean of the last {points} grid points, steps {start:.0f}-"
            f"{stop:.0f}; AUC over steps {panel.grid[0]:.0f}-{panel.grid[-1]:.0f}."
        )
    lines += [
        "",
        "Differences: group mean minus baseline mean over runs, with the 95% Welch "
        "t-interval, its Welch-Satterthwaite degrees of freedom, and the minimum "
        "detectable effect (MDE): the difference a two-sided 5% Welch test would "
        "detect with 80% power given the runs' spreads, (t(0.975, df) + t(0.8, df)) "
        "x SE. Runs: those with a value of all the group's; n/a: a run without a "
        "value (never reached T), under 2 runs on a side, or no spread.",
        "",
        "| task | measure | group | runs | mean | baseline | runs | mean | difference "
        "| 95% CI | Welch df | MDE (80% power) |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for d in diffs:
        steps = d.measure.startswith("steps")
        df = "n/a" if math.isnan(d.df) else f"{d.df:.2f}"
        lines.append(
            f"| {d.task} | {d.measure} | {d.group} | {d.runs}/{d.group_runs} | "
            f"{_number(d.value, steps)} | {d.baseline} | "
            f"{d.baseline_runs}/{d.baseline_group_runs} | "
            f"{_number(d.baseline_value, steps)} | {_number(d.difference, steps)} | "
            f"[{_number(d.low, steps)}, {_number(d.high, steps)}] | {df} | "
            f"{_number(d.mde, steps)} |"
        )
    lines += ["", "Per run (n/a: never reached):"]
    for panel in panels:
        task_rows = [r for r in rows if r.task == panel.task]
        measures = list(task_rows[0].values)  # every run of a task has the same
        lines += [
            "",
            f"| task | group | seed | {' | '.join(measures)} |",
            "|---|---|---:|" + "---:|" * len(measures),
        ]
        for r in task_rows:
            cells = " | ".join(_number(r.values[m], m.startswith("steps")) for m in measures)
            lines.append(f"| {r.task} | {r.group} | {r.seed} | {cells} |")
    return "\n".join(lines) + "\n"


def write_csvs(
    diffs: Sequence[Difference],
    rows: Sequence[RunRow],
    differences_path: Union[str, Path],
    runs_path: Union[str, Path],
) -> None:
    """Full precision: the differences, and the per-run values (one row per run and
    measure, as a task's thresholds are its own)."""
    with atomic_open(differences_path, newline="") as f:
        writer = csv.writer(f)
        columns = list(Difference.__dataclass_fields__)
        writer.writerow(columns)
        for d in diffs:
            writer.writerow([getattr(d, c) for c in columns])
    with atomic_open(runs_path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "group", "seed", "run", "measure", "value"])
        for r in rows:
            for measure, value in r.values.items():
                writer.writerow([r.task, r.group, r.seed, r.run, measure, value])
