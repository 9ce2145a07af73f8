"""A metric across seeds: runs aligned onto a common grid of env steps, aggregated
by mean (with a 95% t-interval) or IQM (with rliable's 95% stratified-bootstrap
interval).

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
mean). The mean's interval is the 95% t-interval, mean +- t(0.975, n - 1) s/sqrt(n):
with 4 seeds a percentile bootstrap cannot reach beyond the few resampled means and
is too narrow. A trimmed mean has no t-interval, so the IQM's is rliable's percentile
bootstrap, resampling runs with replacement within each task.
"""

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.stats
from rliable import library

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
    """rliable's aggregate_iqm per grid point: scores (runs, tasks, points) -> (points,)."""
    return scipy.stats.trim_mean(scores.reshape(-1, scores.shape[-1]), 0.25, axis=0)


def number(value: float, spec: str) -> str:
    """`value` formatted as the tables print it: n/a where there is none (NaN), e.g. an
    interval with under 2 runs a side or no spread."""
    return "n/a" if np.isnan(value) else format(value, spec)


def t_interval(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """samples: (runs, points) -> the mean over runs at each point and its 95%
    t-interval (df = runs - 1); NaN bounds with a single run."""
    n = samples.shape[0]
    point = samples.mean(axis=0)
    if n < 2:
        nan = np.full_like(point, np.nan)
        return point, nan, nan
    half = scipy.stats.t.ppf(0.975, n - 1) * samples.std(axis=0, ddof=1) / np.sqrt(n)
    return point, point - half, point + half


def iqm_interval(
    samples: np.ndarray, reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """samples: (runs, points) -> the IQM over runs at each point and its 95%
    stratified-bootstrap interval (`reps` resamples drawn from `seed`)."""
    with warnings.catch_warnings():
        # arch 7 deprecates the random_state argument that rliable passes it
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = library.get_interval_estimates(
            {"scores": samples[:, None, :]},
            iqm,
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return points["scores"], intervals["scores"][0], intervals["scores"][1]
