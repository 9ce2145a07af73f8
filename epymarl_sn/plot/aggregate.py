"""A metric across seeds: runs aligned onto a common grid of env steps, aggregated
by IQM or mean, with 95% stratified-bootstrap confidence intervals from rliable.

Alignment. Runs log a metric whenever a logging interval ends, which is at
slightly different env steps in different runs (episodes end where they end). The
runs of one task are therefore linearly interpolated onto one grid of evenly
spaced steps from the latest first logged step to the earliest last logged step
among them: the span every run covers, so no value is extrapolated and every
curve of a panel, and every final score of a task, is read at the same steps. The
grid has as many points as the run with the most logged points in that span.
Values are averaged as logged (not in log space), also when plotted on a log axis.

Smoothing (optional) is a trailing rolling mean over each run's own logged points,
before alignment, as the authors' plots.py smooths each run's return_mean.

Aggregates (rliable's definitions): IQM is the 25% trimmed mean over runs (the
mean of the middle half; with fewer than 4 runs it trims nothing and equals the
mean). Confidence intervals are percentile bootstrap intervals, resampling runs
with replacement within each task (rliable's stratified bootstrap).
"""

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.stats
from rliable import library, metrics

from epymarl_sn.errors import PlotError
from epymarl_sn.tracking.store import Series

# a run's metric as (steps, values) float arrays
Points = tuple[np.ndarray, np.ndarray]


def finite_series(series: Series) -> Points:
    """(steps, values) as float arrays without the points whose value is missing/NaN."""
    steps = np.asarray(series.steps, dtype=float)
    values = np.asarray([np.nan if v is None else v for v in series.values], dtype=float)
    keep = np.isfinite(values) & np.isfinite(steps)
    order = np.argsort(steps[keep], kind="stable")
    return steps[keep][order], values[keep][order]


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Each value the mean of itself and the window - 1 logged values before it (fewer
    at the start): pandas' rolling(window, min_periods=1).mean(), what the authors'
    plots.py applies to return_mean with a window of 10."""
    if window <= 1:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def common_grid(series_list: Sequence[Points], task: str) -> np.ndarray:
    """Evenly spaced steps over the span every series covers (see the module doc)."""
    start = max(steps[0] for steps, _ in series_list)
    stop = min(steps[-1] for steps, _ in series_list)
    if start > stop:
        raise PlotError(
            f"task {task}: the runs' logged steps do not overlap "
            f"(one ends at {stop:g}, another starts at {start:g})"
        )
    points = max(int(np.sum((steps >= start) & (steps <= stop))) for steps, _ in series_list)
    return np.linspace(start, stop, max(points, 2) if start < stop else 1)


def align(series_list: Sequence[Points], grid: np.ndarray) -> np.ndarray:
    """(runs, points): each series linearly interpolated onto the grid."""
    return np.stack([np.interp(grid, steps, values) for steps, values in series_list])


def iqm(scores: np.ndarray) -> np.ndarray:
    """rliable's aggregate_iqm, per grid point: scores (runs, tasks, points) -> (points,)."""
    if scores.ndim == 2:
        return np.array([metrics.aggregate_iqm(scores)])
    return scipy.stats.trim_mean(scores.reshape(-1, scores.shape[-1]), 0.25, axis=0)


def mean(scores: np.ndarray) -> np.ndarray:
    """rliable's aggregate_mean, per grid point when scores has a points axis."""
    if scores.ndim == 2:
        return np.array([metrics.aggregate_mean(scores)])
    return scores.reshape(-1, scores.shape[-1]).mean(axis=0)


AGGREGATES = {"iqm": iqm, "mean": mean}


def interval_estimates(
    scores: np.ndarray, aggregate: str, reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scores: (runs, tasks) or (runs, tasks, points) -> (point, low, high) arrays."""
    with warnings.catch_warnings():
        # arch 7 deprecates the random_state argument that rliable passes it
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = library.get_interval_estimates(
            {"scores": scores},
            AGGREGATES[aggregate],
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return points["scores"], intervals["scores"][0], intervals["scores"][1]
