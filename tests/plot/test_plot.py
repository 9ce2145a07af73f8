"""`epymarl-sn plot` on the runs of the shared tiny sweep: the files, the matplotlib
objects, and the final table against a computation straight from the stored
metric series (metrics.json, not run_store)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from epymarl_sn.cli import build_parser, main
from epymarl_sn.cli.plot import plot

from helpers import RWARE_TINY, run_cli


def store_of(sweep):
    return sweep.checkout / "results" / "sacred"


def completed_series(sweep, metric):
    """{name: [(steps, values)]} of the COMPLETED runs, read from Sacred's files."""
    series = {}
    for run_json in sorted((sweep.checkout / "results" / "sacred").rglob("run.json")):
        d = run_json.parent
        if json.loads((d / "run.json").read_text())["status"] != "COMPLETED":
            continue
        name = json.loads((d / "config.json").read_text())["name"]
        m = json.loads((d / "metrics.json").read_text())[metric]
        series.setdefault(name, []).append(
            (np.array(m["steps"], float), np.array(m["values"], float))
        )
    return series


def expected_grid(series):
    """The documented grid: from the latest first step to the earliest last step of
    the task's runs, as many points as the densest run has in that span."""
    runs = [s for group in series.values() for s in group]
    start = max(steps[0] for steps, _ in runs)
    stop = min(steps[-1] for steps, _ in runs)
    points = max(int(((steps >= start) & (steps <= stop)).sum()) for steps, _ in runs)
    return np.linspace(start, stop, points)


# grouped by name, mappo_sn (the tiny sweep's SN variant) plots as one line with
# mappo_midsn, the same preset under its paper name
LABELS = {
    "mappo_paper": "mappo_paper",
    "mappo_sn": "mappo_midsn = mappo_sn",
    "mappo_midsn": "mappo_midsn = mappo_sn",
}


def labels(names):
    return sorted({LABELS[name] for name in names})


def run_plot(*argv):
    return plot(build_parser().parse_args(["plot", *map(str, argv)]))


@pytest.fixture(scope="module")
def fig5(tiny_sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("fig5")
    fig, rows = run_plot("--store", store_of(tiny_sweep), "--preset", "fig5", "--out", out)
    return out, fig, rows


def test_fig5_files_are_written(fig5, tiny_sweep):
    out, _, _ = fig5
    png, pdf = out / "fig5.png", out / "fig5.pdf"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    assert (out / "fig5_final.md").read_text().count(f"| {tiny_sweep.task} |") == len(
        tiny_sweep.variants
    )


def test_fig5_axes_labels_and_legend_match_the_request(fig5, tiny_sweep):
    _, fig, _ = fig5
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # one task
    ax = axes[0]
    assert ax.get_title() == tiny_sweep.task
    assert ax.get_xlabel() == "env steps"
    assert ax.get_ylabel() == "critic gradient norm (all parameters, before clipping)"
    assert ax.get_yscale() == "log"
    # what is plotted, on what, and how (wrapped to the figure's width)
    assert fig.get_suptitle().replace("\n", " ") == (
        "Fig. 5: RWARE, critic gradient norm (all parameters, before clipping) "
        "Mean over seeds, 95% t-interval"
    )
    # each legend entry says how many seeds its line averages
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        f"{label} ({len(tiny_sweep.seeds)} seeds)" for label in labels(tiny_sweep.variants)
    ]
    # each line is the mean over seeds (the default, as the paper) of the runs
    # interpolated onto the common grid, with its CI band around it
    series = completed_series(tiny_sweep, "critic_grad_norm")
    grid = expected_grid(series)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == labels(tiny_sweep.variants)
    for name in tiny_sweep.variants:
        assert len(series[name]) == len(tiny_sweep.seeds)
        aligned = np.stack([np.interp(grid, s, v) for s, v in series[name]])
        np.testing.assert_allclose(lines[LABELS[name]].get_xdata(), grid)
        np.testing.assert_allclose(lines[LABELS[name]].get_ydata(), aligned.mean(axis=0))
    # the bands, in the lines' order: the mean's 95% t-interval at each grid step
    assert len(ax.collections) == len(tiny_sweep.variants)
    for label, band in zip(sorted(lines), ax.collections):
        (name,) = [n for n in tiny_sweep.variants if LABELS[n] == label]
        aligned = np.stack([np.interp(grid, s, v) for s, v in series[name]])
        half = (
            scipy.stats.t.ppf(0.975, len(aligned) - 1)
            * aligned.std(axis=0, ddof=1)
            / np.sqrt(len(aligned))
        )
        vertices = band.get_paths()[0].vertices
        for x, low, high in zip(grid, aligned.mean(axis=0) - half, aligned.mean(axis=0) + half):
            ys = vertices[np.isclose(vertices[:, 0], x), 1]
            assert (ys.min(), ys.max()) == pytest.approx((low, high))


def test_final_table_equals_an_independent_computation(fig5, tiny_sweep):
    """Each run's final value: its mean over the grid's last 10 points (all of them on
    a shorter grid); over runs, the mean with its 95% t-interval and the IQM."""
    out, _, _ = fig5
    with open(out / "fig5_final.csv") as f:
        table = {row["group"]: row for row in csv.DictReader(f)}
    assert sorted(table) == labels(tiny_sweep.variants)
    series = completed_series(tiny_sweep, "critic_grad_norm")
    window = expected_grid(series)[-10:]
    for name in tiny_sweep.variants:
        finals = np.array([np.interp(window, s, v).mean() for s, v in series[name]])
        row = table[LABELS[name]]
        assert row["task"] == tiny_sweep.task and int(row["runs"]) == len(tiny_sweep.seeds)
        assert int(row["points"]) == len(window)
        assert (float(row["from_step"]), float(row["step"])) == (window[0], window[-1])
        assert float(row["iqm"]) == pytest.approx(scipy.stats.trim_mean(finals, 0.25))
        assert float(row["mean"]) == pytest.approx(finals.mean())
        ci = scipy.stats.ttest_1samp(finals, 0).confidence_interval(0.95)
        assert float(row["mean_low"]) == pytest.approx(ci.low)
        assert float(row["mean_high"]) == pytest.approx(ci.high)
        assert int(row["df"]) == len(finals) - 1


def test_group_by_another_key_with_mean_and_linear_scale(tiny_sweep, tmp_path):
    fig, rows = run_plot(
        "--store",
        store_of(tiny_sweep),
        "--metric",
        "return_mean",
        "--group-by",
        "seed",
        "--aggregate",
        "mean",
        f"name={tiny_sweep.variants[0]}",
        "--out",
        tmp_path,
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        f"{s} (1 run, no CI)" for s in tiny_sweep.seeds
    ]
    assert ax.get_ylabel() == "return_mean" and ax.get_yscale() == "linear"
    assert fig.get_suptitle() == "return_mean\nMean over seeds, 95% t-interval"
    assert [(r.group, r.runs) for r in rows] == [(str(s), 1) for s in tiny_sweep.seeds]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "return_mean.pdf",
        "return_mean.png",
        "return_mean_final.csv",
        "return_mean_final.md",
    ]


def test_failed_runs_are_left_out_unless_selected(tiny_sweep, tmp_path):
    _, rows = run_plot(
        "--store", store_of(tiny_sweep), "--metric", "critic_grad_norm", "--out", tmp_path
    )
    # not the FAILED "broken" runs
    assert sorted({r.group for r in rows}) == labels(tiny_sweep.variants)


def test_fig5_plots_the_authors_clipped_weights_norm_on_request(tiny_sweep, tmp_path):
    fig, rows = run_plot(
        "--store",
        store_of(tiny_sweep),
        "--preset",
        "fig5",
        "--metric",
        "critic_grad_norm_clipped_weights",
        "--aggregate",
        "iqm",
        "--out",
        tmp_path,
    )
    ax = fig.axes[0]
    assert ax.get_ylabel() == "critic gradient norm (weights only, after clipping)"
    assert ax.get_yscale() == "log"
    assert (
        fig.get_suptitle()
        .replace("\n", " ")
        .startswith(
            "Fig. 5: RWARE, critic gradient norm (weights only, after clipping) IQM over seeds"
        )
    )
    assert (tmp_path / "fig5_critic_grad_norm_clipped_weights.png").stat().st_size > 0
    # both variants (mappo_paper too: its ppo_sn_learner logs it) stay under the clip
    series = completed_series(tiny_sweep, "critic_grad_norm_clipped_weights")
    assert sorted(series) == tiny_sweep.variants
    assert all(0 < v <= 10 for runs in series.values() for _, values in runs for v in values)
    assert sorted(r.group for r in rows) == labels(tiny_sweep.variants)
    lines = {line.get_label(): line for line in ax.get_lines()}
    grid = expected_grid(series)
    for name in tiny_sweep.variants:
        aligned = np.stack([np.interp(grid, s, v) for s, v in series[name]])
        np.testing.assert_allclose(
            lines[LABELS[name]].get_ydata(), scipy.stats.trim_mean(aligned, 0.25, axis=0)
        )


def test_mappo_sn_and_mappo_midsn_runs_make_one_line(tiny_sweep, run_main, tmp_path):
    # the tiny sweep's runs of mappo_sn and a real mappo_midsn run, in one store
    result = run_main("--config=mappo_midsn", *RWARE_TINY, "seed=3")
    assert result.proc.returncode == 0, result.output[-3000:]
    store = result.runs[0].path.parents[2]
    shutil.copytree(store_of(tiny_sweep) / "mappo_sn", store / "mappo_sn")
    fig, rows = run_plot("--store", store, "--metric", "return_mean", "--out", tmp_path)
    assert [(r.group, r.runs) for r in rows] == [
        ("mappo_midsn = mappo_sn", len(tiny_sweep.seeds) + 1)
    ]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        f"mappo_midsn = mappo_sn ({len(tiny_sweep.seeds) + 1} seeds)"
    ]
    # grouped by another key, each keeps its own runs
    _, rows = run_plot(
        "--store",
        store,
        "--metric",
        "return_mean",
        "--group-by",
        "seed",
        "--out",
        tmp_path / "by_seed",
    )
    assert [(r.group, r.runs) for r in rows] == [("1", 1), ("2", 1), ("3", 1)]


def test_runs_without_the_sn_critic_group_as_critic_sn_none(tiny_sweep, tmp_path):
    _, rows = run_plot(
        "--store",
        store_of(tiny_sweep),
        "--metric",
        "return_mean",
        "--group-by",
        "critic_sn",
        "--out",
        tmp_path,
    )
    seeds = len(tiny_sweep.seeds)
    assert sorted((r.group, r.runs) for r in rows) == [("mid", seeds), ("none", seeds)]


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--metric", "no_such_metric"],
            "no selected run logged metric 'no_such_metric'; they have: ",
        ),
        (["--preset", "fig3"], "no selected run logged metric 'test_battle_won_mean'"),
        (["--metric", "return_mean", "name=nosuch"], "matches name=nosuch status=COMPLETED"),
        (
            ["--metric", "return_mean", "--group-by", "critic_sn_k"],
            "2 of 4 selected runs have no config key 'critic_sn_k'",
        ),
        (
            ["--preset", "fig5", "--metric", "return_mean"],
            (
                "--preset fig5 plots critic_grad_norm "
                "(or --metric critic_grad_norm_clipped_weights); "
                "drop --metric return_mean or --preset"
            ),
        ),
        ([], "give --metric M"),
    ],
)
def test_bad_request_is_one_clear_line_and_writes_nothing(
    tiny_sweep, tmp_path, capsys, args, message
):
    out = tmp_path / "figures"
    code = main(["plot", "--store", str(store_of(tiny_sweep)), *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("epymarl-sn plot: error: ") and err.count("\n") == 1
    assert message in err
    assert not out.exists()


def test_plot_command_line_end_to_end(tiny_sweep, tmp_path):
    proc = run_cli("plot", "--store", store_of(tiny_sweep), "--preset", "fig2", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fig2.png").stat().st_size > 0
    assert (tmp_path / "fig2.pdf").stat().st_size > 0
    assert "4 runs from" in proc.stderr and ", 1 task -> " in proc.stderr


def test_fig4_plots_the_enemies_killed_in_test_episodes_on_request(tmp_path):
    """docs/smac_fig3.md's Fig. 4 measure, on the committed SMAClite calibration runs:
    each map's final value is its run's last five test points."""
    store = Path(__file__).resolve().parents[2] / "docs" / "data" / "smac_calibration"
    fig, _ = run_plot(
        "--store", store, "--preset", "fig4", "--metric", "test_dead_enemies_mean",
        "--final-points", "5", "--out", tmp_path,
    )  # fmt: skip
    labels = {ax.get_ylabel() for ax in fig.axes if ax.get_visible()}
    assert "dead enemies per test episode (greedy)" in labels
    with open(tmp_path / "fig4_test_dead_enemies_mean_final.csv") as f:
        final = {row["task"]: float(row["mean"]) for row in csv.DictReader(f)}
    runs = sorted(store.glob("0*"))
    assert len(runs) == len(final) == 3
    for run in runs:
        task = json.loads((run / "config.json").read_text())["env_args"]["map_name"]
        points = json.loads((run / "metrics.json").read_text())["test_dead_enemies_mean"]
        # the task's grid sits within a step of its test points: the same five values
        assert final[task] == pytest.approx(np.mean(points["values"][-5:]), abs=0.01)
