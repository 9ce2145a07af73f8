"""`plot --claim` and the flat-panel view on runs whose curves are known: Sacred
file-storage runs written as the tiny sweep's real ones are (a real run's config,
metrics.json with steps, timestamps and values), with curves chosen so the answers
can be computed by hand."""

import csv
import json
import math

import numpy as np
import pytest
import scipy.stats

from epymarl_sn.cli import build_parser
from epymarl_sn.cli.plot import plot

STEPS = list(range(0, 200_001, 10_000))  # every run logs here; the common grid is these
# (final value, env steps at which the ramp from 0 reaches it) per seed 1-4
RAMPS = {
    "mappo_paper": [(10.0, 100_000), (12.0, 120_000), (11.0, 140_000), (13.0, 160_000)],
    "mappo_midsn": [(11.0, 60_000), (12.0, 80_000), (12.5, 80_000), (10.0, 100_000)],
}


def run_plot(*argv):
    return plot(build_parser().parse_args(["plot", *map(str, argv)]))


def a_real_config(sweep):
    # a run of the sweep's task (its broken variant's runs are mappo_paper's too)
    runs = sweep.checkout / "results" / "sacred" / "mappo_paper" / sweep.task
    path = next(runs.rglob("config.json"))
    return json.loads(path.read_text())


def write_run(root, config, name, seed, metrics):
    """A COMPLETED run in Sacred's file-storage layout: root/name/seed/."""
    d = root / name / str(seed)
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({**config, "name": name, "seed": seed}))
    start = f"2026-01-01T00:00:{seed:02d}.000000"
    info = {"status": "COMPLETED", "start_time": start, "stop_time": start, "heartbeat": start}
    (d / "run.json").write_text(json.dumps(info))
    (d / "metrics.json").write_text(
        json.dumps(
            {
                metric: {"steps": STEPS, "timestamps": [start] * len(STEPS), "values": values}
                for metric, values in metrics.items()
            }
        )
    )


@pytest.fixture
def ramps(tiny_sweep, tmp_path):
    root = tmp_path / "sacred"
    config = a_real_config(tiny_sweep)
    for name, ramps in RAMPS.items():
        for seed, (final, reach) in enumerate(ramps, 1):
            values = [final * min(t / reach, 1.0) for t in STEPS]
            write_run(root, config, name, seed, {"return_mean": values})
    return root


def by_measure(path):
    """{(group, seed): {measure: value}} from a _claim_runs.csv."""
    found = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            name = "mappo_paper" if row["group"] == "mappo_paper" else "mappo_midsn"
            found.setdefault((name, int(row["seed"])), {})[row["measure"]] = float(row["value"])
    return found


def differences(path):
    with open(path) as f:
        return {row["measure"]: row for row in csv.DictReader(f)}


def welch_by_hand(a, b):
    """mean(a) - mean(b), its 95% Welch-Satterthwaite t-interval, df and 80%-power
    minimum detectable effect."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = scipy.stats.t.ppf(0.975, df)
    diff = a.mean() - b.mean()
    se = math.sqrt(va + vb)
    return diff, diff - t * se, diff + t * se, df, (t + scipy.stats.t.ppf(0.8, df)) * se


def auc_by_hand(final, reach):
    """A ramp from 0 at step 0 to `final` at `reach`, flat to 200k: area / 200k."""
    return (final * reach / 2 + final * (200_000 - reach)) / 200_000


# every final of RAMPS is reached by 160k: the last 4 grid points (170k-200k) are flat
FLAT_POINTS = 4


def test_claim_measures_on_known_ramps_and_welch_intervals(ramps, tmp_path):
    out = tmp_path / "out"
    run_plot(
        "--store",
        ramps,
        "--metric",
        "return_mean",
        "--claim",
        "--thresholds",
        "rware:rware-tiny-2ag-v2=5,10.5",
        "--final-points",
        FLAT_POINTS,
        "--out",
        out,
    )
    per_run = by_measure(out / "return_mean_claim_runs.csv")
    assert len(per_run) == 8
    hand = {
        "steps to 5": lambda f, r: 5 / f * r,
        "steps to 10.5": lambda f, r: 10.5 / f * r if f >= 10.5 else math.nan,
        "AUC": auc_by_hand,
        "final": lambda f, r: f,
        "steps to 50% of own final": lambda f, r: 0.5 * r,
        "steps to 80% of own final": lambda f, r: 0.8 * r,
    }
    for (name, seed), measured in per_run.items():
        final, reach = RAMPS[name][seed - 1]
        assert list(measured) == list(hand)  # primary first, in this order
        for measure, by_hand in hand.items():
            assert measured[measure] == pytest.approx(by_hand(final, reach), nan_ok=True)
    diffs = differences(out / "return_mean_claim.csv")
    assert list(diffs) == list(hand)
    for measure, by_hand in hand.items():
        row = diffs[measure]
        assert (row["group"], row["baseline"]) == ("mappo_midsn = mappo_sn", "mappo_paper")
        a = [by_hand(*r) for r in RAMPS["mappo_midsn"]]
        b = [by_hand(*r) for r in RAMPS["mappo_paper"]]
        if measure == "steps to 10.5":  # the seeds that end at 10 never reach it
            assert (row["runs"], row["group_runs"]) == ("3", "4")
            assert (row["baseline_runs"], row["baseline_group_runs"]) == ("3", "4")
            assert float(row["value"]) == pytest.approx(np.nanmean(a))
            assert float(row["baseline_value"]) == pytest.approx(np.nanmean(b))
            for column in ("difference", "low", "high", "df", "mde"):
                assert math.isnan(float(row[column]))
            continue
        assert (row["runs"], row["baseline_runs"]) == ("4", "4")
        diff, low, high, df, mde = welch_by_hand(a, b)
        assert float(row["difference"]) == pytest.approx(diff)
        assert float(row["low"]) == pytest.approx(low)
        assert float(row["high"]) == pytest.approx(high)
        assert float(row["mde"]) == pytest.approx(mde)
        # the interval and df are scipy's Welch test's
        test = scipy.stats.ttest_ind(a, b, equal_var=False)
        assert float(row["df"]) == pytest.approx(test.df)
        ci = test.confidence_interval(0.95)
        assert (float(row["low"]), float(row["high"])) == pytest.approx((ci.low, ci.high))
    # MidSN gets to 5 sooner here, and its CI says so; the finals are not told apart
    assert float(diffs["steps to 5"]["high"]) < 0
    assert float(diffs["final"]["low"]) < 0 < float(diffs["final"]["high"])
    text = (out / "return_mean_claim.md").read_text()
    assert "- rware:rware-tiny-2ag-v2: T = 5, 10.5 (given for the task); final: the mean " in text
    assert "of the last 4 grid points, steps 170000-200000; AUC over steps 0-200000." in text
    assert "| rware:rware-tiny-2ag-v2 | steps to 5 | mappo_midsn = mappo_sn | 4/4 | " in text
    assert (
        "| steps to 10.5 | mappo_midsn = mappo_sn | 3/4 | 64,824 | mappo_paper | 3/4 | "
        "122,622 | n/a | [n/a, n/a] | n/a | n/a |" in text
    )


def test_without_thresholds_a_task_gets_fractions_of_its_best_final(ramps, tmp_path):
    """A final value over the default 10 grid points (110k-200k), part of a ramp for
    MAPPO's seeds 2 and 4; T = 25% and 50% of the best of all 8 (MidSN's seed 3: 12.5)."""
    out = tmp_path / "out"
    run_plot("--store", ramps, "--metric", "return_mean", "--claim", "--out", out)
    per_run = by_measure(out / "return_mean_claim_runs.csv")
    for (name, seed), measured in per_run.items():
        final, reach = RAMPS[name][seed - 1]
        assert measured["steps to 3.125"] == pytest.approx(3.125 / final * reach)
        assert measured["steps to 6.25"] == pytest.approx(6.25 / final * reach)
    # MAPPO's seed 4 ramps to 13 at 160k: 110k-150k on the ramp, 160k-200k at 13
    ramp = sum(13 * t / 160 for t in (110, 120, 130, 140, 150))
    assert per_run["mappo_paper", 4]["final"] == pytest.approx((ramp + 5 * 13) / 10)
    assert per_run["mappo_paper", 2]["final"] == pytest.approx((11 + 9 * 12) / 10)
    assert per_run["mappo_midsn", 3]["final"] == 12.5  # reached at 80k
    text = (out / "return_mean_claim.md").read_text()
    assert "T = 3.125, 6.25 (25% and 50% of the task's best final value, 12.5 " in text
    with open(out / "return_mean_final.csv") as f:
        finals = {row["group"]: row for row in csv.DictReader(f)}
    paper = finals["mappo_paper"]
    assert (paper["points"], paper["from_step"], paper["step"]) == ("10", "110000.0", "200000.0")
    values = [per_run["mappo_paper", seed]["final"] for seed in (1, 2, 3, 4)]
    half = scipy.stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert float(paper["mean"]) == pytest.approx(np.mean(values))
    assert float(paper["mean_low"]) == pytest.approx(np.mean(values) - half)
    assert float(paper["mean_high"]) == pytest.approx(np.mean(values) + half)
    assert paper["df"] == "3"


def test_the_same_command_writes_the_same_bytes(ramps, tmp_path):
    args = ["--store", ramps, "--metric", "return_mean", "--per-seed", "--claim"]
    run_plot(*args, "--out", tmp_path / "first")
    run_plot(*args, "--out", tmp_path / "second")
    names = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert len(names) == 7 and names == sorted(p.name for p in (tmp_path / "second").iterdir())
    for name in names:
        assert (tmp_path / "first" / name).read_bytes() == (
            tmp_path / "second" / name
        ).read_bytes(), name


def test_flat_win_rates_on_smaclite_stay_visible_and_say_smaclite(tiny_sweep, tmp_path):
    root = tmp_path / "sacred"
    config = {
        **a_real_config(tiny_sweep),
        "env": "smaclite_sparse",
        "env_args": {"map_name": "corridor", "time_limit": None},
    }
    for name in ("mappo_paper", "mappo_midsn"):
        for seed in (1, 2, 3):
            write_run(root, config, name, seed, {"test_battle_won_mean": [0.0] * len(STEPS)})
    fig, rows = run_plot("--store", root, "--preset", "fig3", "--out", tmp_path)
    assert fig.get_suptitle().startswith("Fig. 3: SMAClite (sparse reward), test win rate\n")
    ax = fig.axes[0]
    assert ax.get_ylim() == (-0.05, 1.0)
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert len(lines) == 2 and lines[0].get_linestyle() != lines[1].get_linestyle()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "mappo_midsn = mappo_sn (3 seeds)",
        "mappo_paper (3 seeds)",
    ]
    assert [(r.group, r.mean) for r in rows] == [
        ("mappo_midsn = mappo_sn", 0.0),
        ("mappo_paper", 0.0),
    ]
