"""`epymarl-sn sweep --ray ADDRESS` on a real two-node Ray cluster (two `ray start`
processes on this machine, each with its own checkout) into one real MongoDB: where
the runs went, a worker node lost mid-run, and the driver killed and started again."""

import json
import os
import re
import signal
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from pymongo import MongoClient

from helpers import (
    TASK,
    copy_checkout,
    processes,
    run_cli,
    running_in,
    start_cli,
    tiny_spec,
    wait_until,
    write_spec,
)

NODE_ENV = "EPYMARL_SN_RAY_NODE"


def mongo_runs(url, db):
    fields = {
        "status": 1,
        "config.name": 1,
        "config.seed": 1,
        "host": 1,
        "meta.comment": 1,
        "start_time": 1,
        "stop_time": 1,
        "stop_reason": 1,
    }
    with MongoClient(url) as client:
        return list(client[db].runs.find({}, fields))


def key(run):
    return run["config"]["name"], run["config"]["seed"]


def node_of(run):
    return run["host"]["ENV"][NODE_ENV]


def file_runs(checkout):
    """Sacred comment -> run.json of the checkout's file storage."""
    found = {}
    for path in (Path(checkout) / "results" / "sacred").rglob("run.json"):
        info = json.loads(path.read_text())
        found[info["meta"]["comment"]] = info
    return found


def sweep_env(cluster, mongo_url, db):
    return {**cluster.env, "SACRED_MONGO_URL": mongo_url, "SACRED_MONGO_DB": db}


def test_a_sweep_runs_on_both_nodes_into_one_store(ray_cluster, mongo_url, epymarl_dir, tmp_path):
    spec = write_spec(tmp_path / "spread.yaml", tiny_spec())  # 2 variants x 2 seeds
    driver = copy_checkout(epymarl_dir, tmp_path / "driver")
    args = ("sweep", spec, "--epymarl", driver, "--ray", ray_cluster.address)
    proc = run_cli(*args, env=sweep_env(ray_cluster, mongo_url, "spread"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"(Ray cluster {ray_cluster.address} (2 CPUs)): 4 COMPLETED, 0 FAILED" in proc.stdout
    runs = mongo_runs(mongo_url, "spread")
    assert Counter(key(r) for r in runs if r["status"] == "COMPLETED") == Counter(
        {(v, s): 1 for v in ("mappo_paper", "mappo_sn") for s in (1, 2)}
    )
    assert len(runs) == 4  # and no other attempt
    # each node ran runs, each into the one MongoDB and into its own checkout's files
    assert {node_of(r) for r in runs} == set(ray_cluster.nodes)
    for run in runs:
        here = ray_cluster.nodes[node_of(run)].checkout
        others = [n.checkout for n in ray_cluster.nodes.values() if n.checkout != here]
        assert file_runs(here)[run["meta"]["comment"]]["status"] == "COMPLETED"
        assert all(run["meta"]["comment"] not in file_runs(o) for o in others)
    assert not (driver / "results" / "sacred").exists()
    # the progress bar showed the env steps of the running runs
    bars = proc.stderr.replace("\r", "\n")
    running = r"running 2: \S+ \S+ seed=\d+ [1-9]\d*/1000, \S+ \S+ seed=\d+ \d+/1000"
    assert re.search(running, bars), bars[-2000:]
    assert "done 4, failed 0, running 0" in bars


def test_a_restarted_sweep_skips_completed_runs_and_runs_nothing_twice(
    ray_cluster, mongo_url, epymarl_dir, tmp_path
):
    # runs long enough that the third, started once one has ended, is still running
    # when the driver dies (a 1000-step run can end before Ray stops it)
    spec = write_spec(
        tmp_path / "restart.yaml",
        tiny_spec(configs=["mappo_paper"], seeds=[1, 2, 3], t_max=2000),
    )
    driver = copy_checkout(epymarl_dir, tmp_path / "driver")
    env = sweep_env(ray_cluster, mongo_url, "restart")
    args = ("sweep", spec, "--epymarl", driver, "--ray", ray_cluster.address)
    first = start_cli(*args, env=env)
    try:

        def one_started_after_one_ended():
            assert first.poll() is None, first.communicate()
            runs = mongo_runs(mongo_url, "restart")
            ended = [r["stop_time"] for r in runs if r["status"] == "COMPLETED"]
            started = [r["start_time"] for r in runs if r["status"] == "RUNNING"]
            return bool(ended) and any(s > min(ended) for s in started)

        wait_until(one_started_after_one_ended, 400, "a run RUNNING since a run COMPLETED")
        first.send_signal(signal.SIGKILL)  # the driver, as a lost login node would
        first.wait()
    finally:
        first.kill()
        first.communicate()
    proc = run_cli(*args, env=env)  # at once: the killed sweep's runs may still run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    done = int(re.search(r"3 runs, (\d) already COMPLETED", proc.stderr).group(1))
    assert done >= 1
    assert f"{3 - done} COMPLETED, 0 FAILED, {done} skipped" in proc.stdout
    runs = mongo_runs(mongo_url, "restart")
    assert Counter(key(r) for r in runs if r["status"] == "COMPLETED") == Counter(
        {("mappo_paper", s): 1 for s in (1, 2, 3)}
    )
    lost = [r for r in runs if r["status"] != "COMPLETED"]
    assert lost, "the killed sweep had a run RUNNING"
    for run in lost:
        assert run["status"] == "INTERRUPTED" and run["stop_reason"].startswith("stopped: ")
    # no two attempts of one run overlapped in time
    for seed in (1, 2, 3):
        attempts = sorted(
            (r for r in runs if key(r) == ("mappo_paper", seed)), key=lambda r: r["start_time"]
        )
        for before, after in pairwise(attempts):
            assert before["stop_time"] <= after["start_time"], (before, after)
    for node in ray_cluster.nodes.values():
        assert running_in(node.checkout) == []


@pytest.fixture
def lose_a_worker(ray_cluster, mongo_url, epymarl_dir, tmp_path):
    """lose_a_worker(worker, db, kill): a sweep of 2 runs on the cluster into MongoDB
    database `db`; once a run is RUNNING on `worker`, `kill()`; the sweep must then
    re-run it and complete both. -> (that run as first stored, the sweep's output, the
    stored runs)."""

    def lose(worker, db, kill):
        spec = write_spec(tmp_path / f"{db}.yaml", tiny_spec(configs=["mappo_paper"], seeds=[1, 2]))
        driver = copy_checkout(epymarl_dir, tmp_path / "driver")
        args = ("sweep", spec, "--epymarl", driver, "--ray", ray_cluster.address, "--retries", 1)
        sweep = start_cli(*args, env=sweep_env(ray_cluster, mongo_url, db))
        try:

            def held_by_worker():
                assert sweep.poll() is None, sweep.communicate()
                return [
                    r
                    for r in mongo_runs(mongo_url, db)
                    if r["status"] == "RUNNING" and node_of(r) == worker.node_id
                ]

            (held,) = wait_until(held_by_worker, 300, "a run RUNNING on the worker node")
            kill()
            out, err = sweep.communicate(timeout=400)
        finally:
            sweep.kill()
        assert sweep.returncode == 0, out + err
        assert "2 COMPLETED, 0 FAILED" in out
        label = f"mappo_paper {TASK} seed={held['config']['seed']}"
        assert f"RETRIED {label}: attempt 1 failed: its Ray node {worker.node_id} was lost" in out
        runs = mongo_runs(mongo_url, db)
        assert Counter(key(r) for r in runs if r["status"] == "COMPLETED") == Counter(
            {("mappo_paper", 1): 1, ("mappo_paper", 2): 1}
        )
        (lost,) = [r for r in runs if r["_id"] == held["_id"]]
        assert lost["status"] == "INTERRUPTED"
        return held, out, runs

    return lose


def test_a_lost_worker_node_is_rerun_on_the_other_node(ray_cluster, lose_a_worker):
    # the cluster keeps the head node only
    worker = ray_cluster.worker
    run_pids = []

    def kill_the_raylet():
        run_pids.extend(running_in(worker.checkout))  # its main.py and env workers
        assert len(run_pids) >= 2
        os.kill(worker.raylet_pid, signal.SIGKILL)

    held, _, runs = lose_a_worker(worker, "lost", kill_the_raylet)
    (lost,) = [r for r in runs if r["_id"] == held["_id"]]
    assert lost["stop_reason"].startswith("stopped: ")
    (rerun,) = [r for r in runs if key(r) == key(held) and r["status"] == "COMPLETED"]
    assert node_of(rerun) == ray_cluster.head.node_id
    # on the lost node itself, its watchdog killed the run and marked its file copy
    assert file_runs(worker.checkout)[held["meta"]["comment"]]["status"] == "INTERRUPTED"
    alive = processes()
    assert [pid for pid in run_pids if pid in alive] == []


def guards_of(checkout, pids):
    """Those of `pids` that are watchdogs (sweep.guard) of runs in `checkout`:
    detached, they live in sessions of their own, outside their node's."""
    found = []
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"epymarl_sn.sweep.guard" in args and str(checkout).encode() in args:
            found.append(pid)
    return found


def test_a_machine_lost_whole_leaves_the_marking_to_the_driver(ray_cluster, lose_a_worker):
    # a machine that loses power: its raylet, Ray workers, run and watchdog all go at
    # once, so nothing on it can mark the run; the driver must, in MongoDB
    worker = ray_cluster.join("w2")

    def power_off():
        alive = processes()
        guards = guards_of(worker.checkout, alive)
        node = [pid for pid, (sid, _, _) in alive.items() if sid == worker.proc.pid]
        run = running_in(worker.checkout)
        assert guards and node and run
        # the watchdog first, then the Ray side: nothing sees another go and acts
        for pid in guards + node + run:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # ended with its raylet

    held, _, runs = lose_a_worker(worker, "machine", power_off)
    (lost,) = [r for r in runs if r["_id"] == held["_id"]]
    # the driver's words, not the watchdog's: the watchdog died with the machine
    assert lost["stop_reason"] == f"stopped: its Ray node {worker.node_id} was lost"
    assert lost["stop_time"] >= held["start_time"]
    # the dead machine's own file copy stays as the machine left it
    assert file_runs(worker.checkout)[held["meta"]["comment"]]["status"] == "RUNNING"
