"""Stored runs -> one panel per task: each group's curve (aggregate and 95% CI per
grid step: the mean's t-interval, or the IQM's bootstrap one) and its runs' own
curves on the task's common grid (see aggregate.py); optionally each run smoothed
first by a rolling mean. A run's final value is its mean over the grid's last points."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from epymarl_sn.errors import PlotError
from epymarl_sn.plot.aggregate import (
    Points,
    align,
    common_grid,
    finite_series,
    iqm_interval,
    rolling_mean,
    t_interval,
)
from epymarl_sn.tracking.store import Run, Series
from epymarl_sn.values import task_name

# {task: {group label: [(each run, its (steps, values))]}}
Grouped = dict[str, dict[str, list[tuple[Run, Points]]]]


@dataclass
class Curve:
    runs: int
    point: np.ndarray  # aggregate at each grid step
    low: np.ndarray  # 95% CI
    high: np.ndarray
    aligned: np.ndarray  # (runs, grid points): each run on the grid
    members: list[Run]  # the runs, in the order of `aligned`


@dataclass
class Panel:
    task: str
    grid: np.ndarray
    curves: dict[str, Curve]  # group label -> Curve, in label order

    def final_window(self, points: int) -> tuple[int, float, float]:
        """How many of the grid's last points a final value averages (`points`, or the
        whole grid if shorter) and the first and last step they span."""
        used = min(points, len(self.grid))
        return used, float(self.grid[-used]), float(self.grid[-1])


def final_values(panel: Panel, curve: Curve, points: int) -> np.ndarray:
    """Each run's final value: its mean over the grid's last `points` points."""
    used, _, _ = panel.final_window(points)
    return curve.aligned[:, -used:].mean(axis=1)


# mappo_sn is mappo_midsn under the plugin's default name (the presets differ only in
# `name`): grouped by name, the runs of both make one line under this label
SAME_VARIANT = {"mappo_sn": "mappo_midsn = mappo_sn", "mappo_midsn": "mappo_midsn = mappo_sn"}


def group_label(run: Run, group_by: str) -> str:
    label = str(run.get(group_by))
    return SAME_VARIANT.get(label, label) if group_by == "name" else label


def task_of(run: Run) -> str:
    return task_name(run.config.get("env_args") or {}, run.config.get("env", "?"))


def diverged_at(series: Series) -> Optional[float]:
    """The first step whose value is NaN or infinite (the run diverged), or None."""
    for step, value in zip(series.steps, series.values):
        if value is not None and not math.isfinite(value):
            return float(step)
    return None


def group_series(
    runs: Sequence[Run], metric: str, group_by: str, smooth: int = 1
) -> tuple[Grouped, list[Run], list[tuple[Run, float]]]:
    """{task: {group label: [(run, (steps, values))]}} of the runs that logged
    `metric`, each run's values a rolling mean over its last `smooth` logged points
    (a run that diverged: those before its first NaN or infinite value), the runs
    that did not log it, and (run, first non-finite step) of those that diverged."""
    if not runs:
        raise PlotError("no run matches the selection")
    missing = object()
    lacking = [run for run in runs if run.get(group_by, missing) is missing]
    if lacking:
        raise PlotError(
            f"{len(lacking)} of {len(runs)} selected runs have no config key "
            f"'{group_by}' (e.g. run {lacking[0].id}); choose another "
            "--group-by or select runs that have it with KEY=VALUE filters"
        )
    grouped: Grouped = {}
    without: list[Run] = []
    diverged: list[tuple[Run, float]] = []
    for run in runs:
        series = run.metrics.get(metric)
        at = diverged_at(series) if series else None
        if series and at is not None:
            diverged.append((run, at))
            keep = [i for i, s in enumerate(series.steps) if s < at]
            series = Series([series.steps[i] for i in keep], [series.values[i] for i in keep])
        steps, values = finite_series(series) if series else (np.empty(0), np.empty(0))
        if len(steps):
            task = grouped.setdefault(task_of(run), {})
            task.setdefault(group_label(run, group_by), []).append(
                (run, (steps, rolling_mean(values, smooth)))
            )
        elif at is None:
            without.append(run)
    if not grouped:
        found = sorted({name for run in runs for name in run.metrics})
        raise PlotError(
            f"no selected run logged metric '{metric}'; they have: "
            + (", ".join(found) or "no metrics")
        )
    return grouped, without, diverged


def build_panels(grouped: Grouped, aggregate: str, reps: int, seed: int) -> list[Panel]:
    panels = []
    for task in sorted(grouped):
        groups = grouped[task]
        grid = common_grid([s for members in groups.values() for _, s in members], task)
        curves = {}
        for label in sorted(groups):
            aligned = align([s for _, s in groups[label]], grid)  # (runs, points)
            if aggregate == "mean":
                point, low, high = t_interval(aligned)
            else:
                point, low, high = iqm_interval(aligned, reps, seed)
            members = [run for run, _ in groups[label]]
            curves[label] = Curve(len(aligned), point, low, high, aligned, members)
        panels.append(Panel(task, grid, curves))
    return panels
