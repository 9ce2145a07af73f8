"""A sweep's data_dir: each finished run's compact record, kept with the code, read
by `plot` as it is, and counted as done by the same sweep on a machine that has only
the repository."""

import csv
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import epymarl_sn
from epymarl_sn.sweep.data import KEPT_METRICS, SPEC_FILE
from epymarl_sn.tracking.store import open_store

from helpers import VARIANTS, copy_checkout, run_cli, run_dirs, tiny_spec, write_spec

REPO = Path(epymarl_sn.__file__).resolve().parent.parent


def sweep_in(cwd, *args, env=None):
    """The real `epymarl-sn sweep` started in `cwd` (data_dir is relative to it),
    with SACRED_MONGO_* only from `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SACRED_MONGO")}
    return subprocess.run(
        [sys.executable, "-m", "epymarl_sn", "sweep", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
        check=False,
        env={**environ, **(env or {})},
    )


def records(data):
    return sorted(p.parent for p in data.rglob("run.json"))


def read(path, name):
    return json.loads((path / name).read_text())


@pytest.fixture(scope="module")
def kept(tiny_sweep, tmp_path_factory):
    """The tiny sweep's store copied, then its grid with a third seed run with a
    data_dir: the 4 runs already COMPLETED are copied before anything runs, the 2 of
    seed 3 after they finish."""
    root = tmp_path_factory.mktemp("kept")
    checkout = root / "epymarl"
    shutil.copytree(tiny_sweep.checkout, checkout)
    repo = root / "repo"
    (repo / "docs" / "data").mkdir(parents=True)
    spec = write_spec(root / "tiny3.yaml", tiny_spec(seeds=[1, 2, 3], data_dir="docs/data/tiny3"))
    proc = sweep_in(repo, spec, "--epymarl", checkout, "--workers", 2)
    return checkout, repo, spec, repo / "docs" / "data" / "tiny3", proc


def stored_dirs(checkout):
    return {
        p.parent
        for p in (checkout / "results" / "sacred").rglob("run.json")
        if read(p.parent, "run.json")["status"] == "COMPLETED"
    }


def test_each_completed_run_is_kept_compact_with_its_spec_and_commit(kept):
    checkout, _, spec, data, proc = kept
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 runs, 4 already COMPLETED" in proc.stderr and "2 to run" in proc.stderr
    assert "2 COMPLETED, 0 FAILED, 4 skipped" in proc.stdout
    assert (data / SPEC_FILE).read_text() == spec.read_text()
    assert len(records(data)) == 6
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    originals = {
        read(d, "config.json")["name"] + str(read(d, "config.json")["seed"]): d
        for d in stored_dirs(checkout)
    }
    assert len(originals) == 6
    for record in records(data):
        config = read(record, "config.json")
        original = originals.pop(config["name"] + str(config["seed"]))
        assert config == read(original, "config.json")
        info, source = read(record, "run.json"), read(original, "run.json")
        assert info["status"] == "COMPLETED"
        assert (info["start_time"], info["stop_time"]) == (
            source["start_time"],
            source["stop_time"],
        )
        assert info["host"] == source["host"]
        assert info["experiment"]["repositories"] == source["experiment"]["repositories"]
        assert info["epymarl_sn"]["commit"] == commit and info["epymarl_sn"]["spec"] == SPEC_FILE
        metrics, full = read(record, "metrics.json"), read(original, "metrics.json")
        # the curves of the figures and tables, not the losses
        assert {
            "return_mean",
            "test_return_mean",
            "critic_grad_norm",
            "critic_sigma_layer1",
        } <= set(metrics)
        assert "critic_loss" in full and "critic_loss" not in metrics
        assert set(metrics) < set(full)
        for name, series in metrics.items():
            assert set(series) == {"steps", "values"}
            assert series["steps"] == full[name]["steps"]
            assert series["values"] == pytest.approx(full[name]["values"], rel=1e-6)
    assert originals == {}
    assert KEPT_METRICS  # one definition, used above through the record


def final_table(out):
    with open(out / "fig5_final.csv") as f:
        return {row["group"]: row for row in csv.DictReader(f)}


def test_plot_reads_the_kept_data_as_it_reads_the_store(kept, tmp_path):
    checkout, _, _, data, _ = kept
    for where, out in (
        (data, tmp_path / "kept"),
        (checkout / "results" / "sacred", tmp_path / "store"),
    ):
        proc = run_cli("plot", "--store", where, "--preset", "fig5", "--reps", 200, "--out", out)
        assert proc.returncode == 0, proc.stderr
        assert "6 runs from" in proc.stderr
    kept_rows, store_rows = final_table(tmp_path / "kept"), final_table(tmp_path / "store")
    # one row per variant, each over its 3 seeds, on both sides
    assert sorted(kept_rows) == sorted(store_rows) and len(kept_rows) == len(VARIANTS)
    assert all(row["runs"] == "3" for row in kept_rows.values())
    for group, row in kept_rows.items():
        for column in ("runs", "step"):
            assert row[column] == store_rows[group][column]
        # (the bootstrap bounds are left out: rliable's resampling differs between calls)
        for column in ("mean", "iqm"):
            assert float(row[column]) == pytest.approx(float(store_rows[group][column]), rel=1e-5)


def test_a_new_machine_with_only_the_data_runs_nothing(kept, epymarl_dir, tmp_path):
    _, repo, spec, data, _ = kept
    fresh = copy_checkout(epymarl_dir, tmp_path / "fresh")
    proc = sweep_in(repo, spec, "--epymarl", fresh, "--workers", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 runs, 6 already COMPLETED" in proc.stderr and "0 to run" in proc.stderr
    assert "or kept in docs/data/tiny3" in proc.stderr
    assert not (fresh / "results").exists()
    # a run the data lacks is run there, and only that one
    (victim,) = [r for r in records(data) if r.name.startswith("005_")]
    shutil.rmtree(victim)
    proc = sweep_in(repo, spec, "--epymarl", fresh, "--workers", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 COMPLETED, 0 FAILED, 5 skipped" in proc.stdout
    assert len(stored_dirs(fresh)) == 1 and victim.is_dir()
    assert read(victim, "config.json")["seed"] == 3


def test_a_run_completed_in_the_store_but_not_kept_is_copied_without_running(kept):
    checkout, repo, spec, data, _ = kept
    (victim,) = [r for r in records(data) if r.name.startswith("000_")]
    shutil.rmtree(victim)
    before = run_dirs(checkout)
    proc = sweep_in(repo, spec, "--epymarl", checkout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 COMPLETED, 0 FAILED, 6 skipped" in proc.stdout
    assert run_dirs(checkout) == before and victim.is_dir()


def test_data_dir_mistakes_are_one_clear_line(kept, tmp_path):
    checkout, repo, _, _, _ = kept
    other = write_spec(tmp_path / "other.yaml", tiny_spec(seeds=[7], data_dir="docs/data/tiny3"))
    proc = sweep_in(repo, other, "--epymarl", checkout, "--dry-run")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "epymarl-sn sweep: error: data_dir docs/data/tiny3 holds the runs of another spec "
        f"({repo / 'docs/data/tiny3' / SPEC_FILE} differs from {other}); give this spec a "
        "data_dir of its own"
    )
    spec = write_spec(tmp_path / "elsewhere.yaml", tiny_spec(data_dir="docs/data/x"))
    proc = sweep_in(tmp_path, spec, "--epymarl", checkout, "--dry-run")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        f"epymarl-sn sweep: error: data_dir docs/data/x: there is no directory "
        f"{tmp_path / 'docs' / 'data'}; start the sweep in the directory data_dir is "
        "relative to (the repository's root for docs/data/...), or create it"
    )
    # comments and layout aside, the same spec is the same spec
    same = tmp_path / "same.yaml"
    text = yaml.safe_dump(yaml.safe_load((repo / "docs/data/tiny3" / SPEC_FILE).read_text()))
    same.write_text("# the same grid\n" + text)
    proc = sweep_in(repo, same, "--epymarl", checkout, "--dry-run")
    assert proc.returncode == 0, proc.stderr


def shipped_plan(spec: str, epymarl_dir) -> tuple[str, list[list[str]]]:
    """A shipped spec's dry run from the repository's root (where docs/data is): its
    header line and each run's argv, in the order the runs start."""
    proc = sweep_in(REPO, spec, "--epymarl", epymarl_dir, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    header, *commands = proc.stdout.splitlines()
    return header, [shlex.split(c.removeprefix("# COMPLETED: ")) for c in commands]


def test_the_shipped_rware_fig2_spec_keeps_its_data_in_docs_data(epymarl_dir):
    header, runs = shipped_plan("rware_fig2", epymarl_dir)
    assert header.startswith("# 24 runs in ") and "or kept in docs/data/rware_fig2" in header
    tasks = []
    for argv in runs:
        assert argv[2] in ("--config=mappo_paper", "--config=mappo_midsn")
        # the authors' 100-step episodes, and at least 10M env steps
        assert "env_args.time_limit=100" in argv and "t_max=10050000" in argv
        tasks.append(next(a for a in argv if a.startswith("env_args.key=")).split("=", 1)[1])
    # tiny-2ag's 8 runs first, then tiny-4ag's, then small-2ag's
    assert tasks == [
        f"rware:rware-{t}-v2" for t in ("tiny-2ag", "tiny-4ag", "small-2ag") for _ in range(8)
    ]


def test_the_shipped_rware_ep500_spec_runs_500_step_episodes_seed_pair_first(epymarl_dir):
    header, runs = shipped_plan("rware_ep500", epymarl_dir)
    assert header.startswith("# 8 runs in ") and "or kept in docs/data/rware_ep500" in header
    for argv in runs:
        # the EPyMARL benchmark's episodes and run length, on tiny-2ag only
        assert "env_args.time_limit=500" in argv and "t_max=20050000" in argv
        assert "env_args.key=rware:rware-tiny-2ag-v2" in argv
    # both variants of a seed before the next seed
    assert [(argv[2], argv[-1]) for argv in runs] == [
        (f"--config={c}", f"seed={s}") for s in (1, 2, 3, 4) for c in ("mappo_paper", "mappo_midsn")
    ]


def test_runs_stored_in_mongodb_are_kept_from_there(mongo_url, epymarl_dir, tmp_path):
    # the runs go to MongoDB (a real server), as on a cluster; the copy is made from it
    env = {"SACRED_MONGO_URL": mongo_url, "SACRED_MONGO_DB": "kept_from_mongo"}
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    (tmp_path / "repo" / "docs" / "data").mkdir(parents=True)
    spec = write_spec(
        tmp_path / "one.yaml", tiny_spec(configs=["mappo_sn"], seeds=[5], data_dir="docs/data/m")
    )
    proc = sweep_in(tmp_path / "repo", spec, "--epymarl", checkout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 COMPLETED, 0 FAILED, 0 skipped" in proc.stdout
    assert "warning" not in proc.stderr
    os.environ.update(env)  # open_store reads the database's name from it
    try:
        (stored,) = open_store(mongo_url).runs()
    finally:
        for key in env:
            os.environ.pop(key)
    (record,) = records(tmp_path / "repo" / "docs" / "data" / "m")
    assert read(record, "config.json") == stored.config
    info = read(record, "run.json")
    assert info["status"] == "COMPLETED" and info["start_time"] == stored.start_time.isoformat()
    # what Sacred recorded, as its file storage of the same run has it
    (files,) = [json.loads(p.read_text()) for p in (checkout / "results").rglob("run.json")]
    assert info["host"] == files["host"] and info["host"]["hostname"]
    assert info["experiment"]["repositories"] == files["experiment"]["repositories"]
    metrics = read(record, "metrics.json")
    # the figures' curves are among what was kept (the comparison below holds for none)
    assert {"return_mean", "test_return_mean", "critic_grad_norm"} <= set(metrics)
    assert sorted(metrics) == sorted(
        name for name in stored.metrics if any(fnmatch.fnmatchcase(name, p) for p in KEPT_METRICS)
    )
    for name, series in metrics.items():
        assert series["steps"] == list(stored.metrics[name].steps)
        assert series["values"] == pytest.approx(list(stored.metrics[name].values), rel=1e-6)
