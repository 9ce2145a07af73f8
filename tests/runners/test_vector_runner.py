"""`runner=vector` produces EPyMARL's `parallel` episodes bit for bit, logs the same
stats, checks `vector_workers` before a run, and leaves no worker process behind.

Each run is a real `src/main.py` run, recorded by record_episodes.py: every batch the
runner returned (training and test) and Sacred's metrics.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from epymarl_sn.runners.config import available_cores, check_vector_config, vector_keys

from helpers import LOG_EVERY_1000, RECORDER, RWARE_TINY_ENV, SMACLITE_MAPS, alive

COMMON = ("--config=mappo_paper",)
SMALL_BATCH = ("batch_size_run=4", "buffer_size=4", "batch_size=4")
RWARE = (
    *COMMON,
    *RWARE_TINY_ENV,
    "t_max=2000",
    "test_nepisode=4",
    *LOG_EVERY_1000,
    *SMALL_BATCH,
    "seed=7",
)

# short battles (40 steps): some end in a defeat, the others at the time limit
SMACLITE = (
    *COMMON,
    "--env-config=smaclite_sparse",
    "with",
    "env_args.map_name=2s3z",
    "env_args.time_limit=40",
    # the reference of the batched backend: SMAClite's numpy collision avoidance
    "env_args.use_cpp_rvo2=False",
    "t_max=300",
    "test_interval=150",
    "test_nepisode=4",
    "log_interval=150",
    "runner_log_interval=150",
    "learner_log_interval=150",
    *SMALL_BATCH,
    "seed=3",
)


# rware's own envs, in the vector runner's workers, not the batched backend
ENVS = ("rware_batched=False",)
WORKERS = ("vector", "vector, no workers", "vector, 3 workers")


@pytest.fixture(scope="module")
def rware_runs(record_main):
    return {
        runner: record_main(*RWARE, *extra)
        for runner, extra in (
            ("parallel", ["runner=parallel"]),
            # EPyMARL's own learner: the plugin's exact fast learner must log its numbers
            ("parallel, ppo_learner", ["runner=parallel", "learner=ppo_learner"]),
            # the presets' path: RWARE on the batched backend, the plugin's learner
            ("batched", []),
            # rware's own envs in the vector runner's workers
            ("vector", ["runner=vector", *ENVS]),
            ("vector, no workers", ["runner=vector", "vector_workers=0", *ENVS]),
            # slices of 1, 2, 1
            ("vector, 3 workers", ["runner=vector", "vector_workers=3", *ENVS]),
        )
    }


@pytest.fixture(scope="module")
def one_env_runs(record_main):
    """batch_size_run=1: every step updates the batch for a single env."""
    args = [a for a in RWARE if a not in SMALL_BATCH and not a.startswith("t_max=")]
    return {
        runner: record_main(
            *args,
            "batch_size_run=1",
            "buffer_size=1",
            "batch_size=1",
            "t_max=500",
            *extra,
        )
        for runner, extra in (
            ("parallel", ["runner=parallel"]),
            ("vector", ["runner=vector", *ENVS]),
            ("batched", []),
        )
    }


@pytest.fixture(scope="module")
def smaclite_runs(record_main):
    return {
        runner: record_main(*SMACLITE, *extra)
        for runner, extra in (
            ("parallel", ["runner=parallel"]),
            # the presets' path: the batched SMAClite backend
            ("batched", []),
            # SMAClite's own envs in the vector runner's workers
            ("vector", ["smaclite_batched=False"]),
        )
    }


def assert_same_batches(expected, actual):
    assert len(actual.batches) == len(expected.batches)
    for i, (want, got) in enumerate(zip(expected.batches, actual.batches)):
        assert got.keys() == want.keys()
        assert got["test_mode"] == want["test_mode"]
        for key in want.keys() - {"test_mode"}:
            assert got[key].dtype == want[key].dtype, (i, key)
            assert torch.equal(got[key], want[key]), f"batch {i}: {key} differs"


def metric_values(run):
    return {name: (m["steps"], m["values"]) for name, m in run.metrics.items()}


def test_rware_episodes_are_the_parallel_runners(rware_runs):
    parallel = rware_runs["parallel"]
    # training and test batches, with real data in them
    assert {b["test_mode"] for b in parallel.batches} == {False, True}
    assert all(b["obs"].abs().sum() > 0 for b in parallel.batches)
    assert len({b["actions"].sum().item() for b in parallel.batches}) > 1
    for name in ("parallel, ppo_learner", "batched", *WORKERS):
        assert_same_batches(parallel, rware_runs[name])


def test_rware_run_completes_and_logs_what_parallel_logs(rware_runs):
    parallel = metric_values(rware_runs["parallel"])
    for name in ("batched", *WORKERS):
        run = rware_runs[name]
        assert run.run["status"] == "COMPLETED"
        assert {"return_mean", "test_return_mean", "ep_length_mean"} <= run.metrics.keys()
        assert run.metrics["episode"]["steps"][-1] >= 2000
        # the learner saw the same batches, so every logged value is the same
        assert metric_values(run) == parallel, name


def test_the_fast_path_logs_ppo_learners_numbers(rware_runs):
    """The whole run, same seed: EPyMARL's parallel runner and ppo_learner against the
    presets' batched RWARE, lean rollout and the plugin's learner; every metric that
    ppo_learner logs has the same steps and values (the plugin's learner logs more)."""
    stock = metric_values(rware_runs["parallel, ppo_learner"])
    fast = metric_values(rware_runs["batched"])
    assert {"critic_grad_norm", "pg_loss", "return_mean", "test_return_mean"} <= stock.keys()
    assert {name: fast[name] for name in stock} == stock
    assert fast.keys() - stock.keys() >= {"critic_sigma_layer1", "critic_grad_scale"}


def test_batched_rware_steps_in_the_training_process(rware_runs):
    run = rware_runs["batched"]
    assert run.env_pids == []
    assert "envs stepped together in the training process (batched RWARE backend" in run.output
    assert "batched RWARE backend" not in rware_runs["vector"].output


def test_one_env_batches_are_the_parallel_runners(one_env_runs):
    for name in ("vector", "batched"):
        assert_same_batches(one_env_runs["parallel"], one_env_runs[name])
        assert metric_values(one_env_runs[name]) == metric_values(one_env_runs["parallel"])
    assert len(one_env_runs["vector"].env_pids) == 1


def test_default_workers_one_per_core(rware_runs):
    assert len(rware_runs["vector"].env_pids) == min(available_cores(), 4)
    assert len(rware_runs["vector, 3 workers"].env_pids) == 3
    assert rware_runs["vector, no workers"].env_pids == []


def test_no_worker_survives_a_run(rware_runs, smaclite_runs):
    pids = [
        pid
        for runs in (rware_runs, smaclite_runs)
        for name, run in runs.items()
        if name.startswith("vector")
        for pid in run.env_pids
    ]
    assert pids
    assert not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("runner", ["batched", "vector"])
def test_smaclite_sparse_episodes_and_stats_are_the_parallel_runners(smaclite_runs, runner):
    parallel, vector = smaclite_runs["parallel"], smaclite_runs[runner]
    # battles that ended before the time limit, so terminated is set somewhere
    assert any(b["terminated"].any() for b in parallel.batches)
    assert_same_batches(parallel, vector)
    assert vector.run["status"] == "COMPLETED"
    for prefix in ("", "test_"):
        names = (
            "return_mean",
            "battle_won_mean",
            "dead_allies_mean",
            "dead_enemies_mean",
            "ep_length_mean",
        )
        assert {f"{prefix}{k}" for k in names} <= vector.metrics.keys()
    assert metric_values(vector) == metric_values(parallel)


# SMAClite's other 11 maps (2s3z is smaclite_runs'): medivacs that heal and fly (MMM,
# MMM2), banelings' area attack (bane_vs_bane), the colossus' laser (2c_vs_64zg), terrain
# (corridor), many units (27m_vs_30m)
OTHER_MAPS = [m for m in SMACLITE_MAPS if m != "2s3z"]


@pytest.mark.parametrize("map_name", OTHER_MAPS)
def test_every_smaclite_maps_batched_run_is_the_parallel_runners(record_main, map_name):
    args = [a.replace("=2s3z", f"={map_name}") for a in SMACLITE]
    parallel = record_main(*args, "runner=parallel")
    batched = record_main(*args)
    assert batched.output.count("batched SMAClite backend") == 1
    assert_same_batches(parallel, batched)
    assert batched.run["status"] == "COMPLETED"
    assert metric_values(batched) == metric_values(parallel)


def test_smaclite_runs_say_once_which_envs_step(smaclite_runs):
    batched, vector = smaclite_runs["batched"], smaclite_runs["vector"]
    assert batched.output.count("batched SMAClite backend") == 1
    assert batched.env_pids == []  # stepped in the training process: no env workers
    assert "batched SMAClite backend" not in vector.output
    for run in smaclite_runs.values():
        # SMAClite's own line per env is silenced
        assert "RVO2" not in run.output


@pytest.mark.parametrize("value", ["-1", "5", "two"])
def test_bad_vector_workers_stops_before_training(try_main, value):
    result = try_main(*RWARE, "runner=vector", f"vector_workers={value}")
    assert result.proc.returncode != 0
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: vector_workers:"), result.output
    assert "batch_size_run (4)" in errors[0]
    assert "Traceback" not in result.output
    assert result.run is None and result.env_pids is None  # no run, no runner


@pytest.mark.parametrize("value", [-1, 5, 2.0, True, "2"])
def test_check_rejects(value):
    with pytest.raises(ValueError, match=r"^vector_workers: .* allowed: an integer from 0"):
        check_vector_config({"vector_workers": value, "batch_size_run": 4})


@pytest.mark.parametrize("value", [None, 0, 1, 4])
def test_check_accepts(value):
    check_vector_config({"vector_workers": value, "batch_size_run": 4})
    check_vector_config({"batch_size_run": 4})


def test_workers_die_with_a_killed_training_process(checkout_copy):
    """SIGKILL gives the training process no chance to close its workers."""
    out = checkout_copy / "episodes.pt"
    args = [a if not a.startswith("t_max=") else "t_max=10000000" for a in RWARE]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RECORDER),
            str(out),
            "src/main.py",
            *args,
            "runner=vector",
            "vector_workers=2",
            *ENVS,
        ],
        cwd=checkout_copy,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    pids_file = Path(f"{out}.pids.json")
    try:
        deadline = time.monotonic() + 300
        while not pids_file.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert pids_file.is_file(), "the runner never started"
        time.sleep(2)  # training under way
        pids = json.loads(pids_file.read_text())
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_rware_batched_check_rejects(value):
    with pytest.raises(ValueError, match=r"^rware_batched: .* allowed: True .* or False"):
        check_vector_config({"rware_batched": value, "batch_size_run": 4})


@pytest.mark.parametrize("value", [True, False])
def test_rware_batched_check_accepts(value):
    check_vector_config({"rware_batched": value, "batch_size_run": 4})


def test_the_keys_are_parsed_once_per_values_and_typed_values_never_merged():
    # the config check's parse is the very object the runner reads
    config = {"vector_workers": 2, "batch_size_run": 4, "rware_batched": False}
    assert vector_keys(config) is vector_keys(dict(config))
    assert vector_keys(config).vector_workers == 2 and vector_keys(config).rware_batched is False
    # 0 == False to Python: a memo keyed by the values would pass 0
    with pytest.raises(ValueError, match="^rware_batched: 0 is not allowed"):
        vector_keys({**config, "rware_batched": 0})
    # null is not left out: it is no boolean
    assert vector_keys({"batch_size_run": 4}).rware_batched is True
    with pytest.raises(ValueError, match="^rware_batched: None is not allowed"):
        vector_keys({"batch_size_run": 4, "rware_batched": None})
    # another batch size is another check (vector_workers at most batch_size_run)
    with pytest.raises(ValueError, match=r"^vector_workers: 2 .* to batch_size_run \(1\)"):
        vector_keys({**config, "batch_size_run": 1})
