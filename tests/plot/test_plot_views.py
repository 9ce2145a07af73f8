"""The views of `epymarl-sn plot` on the runs of the shared tiny sweep: the authors'
smoothing and training return, the per-seed lines, plain log ticks."""

import json

import numpy as np
import pandas as pd
import pytest

from epymarl_sn.cli import build_parser, main
from epymarl_sn.cli.plot import plot


def run_plot(*argv):
    return plot(build_parser().parse_args(["plot", *map(str, argv)]))


def store_of(sweep):
    return sweep.checkout / "results" / "sacred"


def runs_of(sweep, metric):
    """{name: [(steps, values)]} of the COMPLETED runs, read from Sacred's files."""
    found = {}
    for run_json in sorted(store_of(sweep).rglob("run.json")):
        d = run_json.parent
        if json.loads(run_json.read_text())["status"] != "COMPLETED":
            continue
        name = json.loads((d / "config.json").read_text())["name"]
        m = json.loads((d / "metrics.json").read_text())[metric]
        found.setdefault(name, []).append((np.array(m["steps"], float), np.array(m["values"])))
    return found


def grid_of(series):
    runs = [s for group in series.values() for s in group]
    start = max(steps[0] for steps, _ in runs)
    stop = min(steps[-1] for steps, _ in runs)
    points = max(int(((steps >= start) & (steps <= stop)).sum()) for steps, _ in runs)
    return np.linspace(start, stop, points)


def test_fig2_training_return_smoothed_as_the_authors_with_each_seed(tiny_sweep, tmp_path):
    fig, _ = run_plot(
        "--store",
        store_of(tiny_sweep),
        "--preset",
        "fig2",
        "--metric",
        "return_mean",
        "--smooth",
        3,
        "--per-seed",
        "--out",
        tmp_path,
    )
    ax = fig.axes[0]
    assert ax.get_ylabel() == "training return (return_mean)"
    # the caption says which return, how it is smoothed, what the thin lines are
    # (wrapped to the figure's width)
    assert fig.get_suptitle().replace("\n", " ") == (
        "Fig. 2: RWARE, training return (return_mean) "
        "Mean over seeds, 95% t-interval; each run a rolling mean over 3 "
        "logged points; thin lines: single runs"
    )
    assert (tmp_path / "fig2_return_mean.png").stat().st_size > 0
    series = runs_of(tiny_sweep, "return_mean")
    grid = grid_of(series)
    # the authors' smoothing, pandas' rolling(window, min_periods=1).mean() per run,
    # then each run on the common grid
    smoothed = {
        name: [
            np.interp(grid, steps, pd.Series(values).rolling(3, min_periods=1).mean())
            for steps, values in runs
        ]
        for name, runs in series.items()
    }
    lines = ax.get_lines()
    means = {line.get_label(): line for line in lines if not line.get_label().startswith("_")}
    thin = [line for line in lines if line.get_label().startswith("_")]
    assert len(thin) == sum(len(r) for r in series.values())
    assert all(line.get_linewidth() < means[next(iter(means))].get_linewidth() for line in thin)
    thin_values = sorted(tuple(np.round(line.get_ydata(), 9)) for line in thin)
    assert thin_values == sorted(tuple(np.round(v, 9)) for runs in smoothed.values() for v in runs)
    for name, runs in smoothed.items():
        label = "mappo_paper" if name == "mappo_paper" else "mappo_midsn = mappo_sn"
        np.testing.assert_allclose(means[label].get_ydata(), np.mean(runs, axis=0))
    # the groups are told apart by line style too, where their lines coincide
    assert len({line.get_linestyle() for line in means.values()}) == len(means)


def test_fig5_log_ticks_are_plain_numbers(tiny_sweep, tmp_path):
    fig, _ = run_plot("--store", store_of(tiny_sweep), "--preset", "fig5", "--out", tmp_path)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both")]
    labelled = [t for t in texts if t]
    assert labelled, texts
    for text in labelled:
        assert "times" not in text and "^" not in text and "$" not in text
        assert float(text) > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--smooth", "0"], "--smooth must be at least 1 (1: no smoothing), got 0"),
        (["--claim", "--fractions", "0.5", "1.2"], "--fractions must lie between 0 and 1"),
        (["--baseline", "mappo_paper"], "--baseline is for --claim's comparisons"),
        (["--thresholds", "1", "2"], "--thresholds is for --claim's comparisons"),
        (["--threshold-fractions", "0.5"], "--threshold-fractions is for --claim's comparisons"),
        (["--final-points", "0"], "--final-points must be at least 1 (1: the last grid point)"),
        (
            ["--claim", "--thresholds", "rware:rware-tiny-2ag-v2=1,x"],
            "--thresholds rware:rware-tiny-2ag-v2=1,x: give each as [TASK=]V[,V...], numbers",
        ),
        (
            ["--claim", "--thresholds", "rware:rware-tiny-4ag-v2=1,2"],
            "--thresholds names task rware:rware-tiny-4ag-v2, which no selected run has; "
            "the tasks: rware:rware-tiny-2ag-v2",
        ),
        (["--claim", "--threshold-fractions", "0"], "--threshold-fractions must lie in (0, 1]"),
        (
            ["--claim", "--baseline", "nosuch"],
            "--baseline nosuch is not a group of task rware:rware-tiny-2ag-v2; its groups: "
            "mappo_midsn = mappo_sn, mappo_paper",
        ),
    ],
)
def test_bad_view_requests_are_one_clear_line(tiny_sweep, tmp_path, capsys, args, message):
    out = tmp_path / "figures"
    code = main(
        ["plot", "--store", str(store_of(tiny_sweep)), "--preset", "fig2", *args, "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("epymarl-sn plot: error: ") and err.count("\n") == 1
    assert message in err
    assert not out.exists()
