"""`epymarl-sn sweep` end to end: real `src/main.py` runs on local workers and on
local Ray, resume from the store, failure summary, and bad input caught before
anything runs."""

import ast
import json
import os
import re
import shlex
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from epymarl_sn.sweep.guard import REASON
from epymarl_sn.sweep.spec import RunSpec, sacred_literal

from helpers import (
    FAILING_TASK,
    alive,
    copy_checkout,
    run_cli,
    run_dirs,
    start_cli,
    stored_runs,
    tiny_spec,
    write_spec,
)


@pytest.fixture(scope="session")
def completed_grid():
    """completed_grid(checkout) -> Counter of (name, seed, env key) of COMPLETED runs."""

    def grid(checkout):
        return Counter(
            (r.config["name"], r.config["seed"], r.config["env_args"]["key"])
            for r in stored_runs(checkout)
            if r.status == "COMPLETED"
        )

    return grid


def full_grid(sweep):
    return Counter({(v, s, sweep.task): 1 for v in sweep.variants for s in sweep.seeds})


def test_sweep_runs_the_grid_with_local_workers(tiny_sweep, completed_grid):
    assert completed_grid(tiny_sweep.checkout) == full_grid(tiny_sweep)
    assert "(2 local workers)" in tiny_sweep.proc.stdout
    assert "4 COMPLETED, 2 FAILED, 0 skipped" in tiny_sweep.proc.stdout
    # the progress bar showed the env steps of the running runs, as EPyMARL logged them
    bars = tiny_sweep.proc.stderr.replace("\r", "\n")
    # each named by its variant, task and seed
    run = r"(mappo_paper|mappo_sn|broken) rware:rware-tiny-2ag-v2 seed=[12]"
    assert re.search(rf"running 2: {run} [1-9]\d*/1000, {run} \d+/1000", bars), bars[-2000:]


def test_failed_run_is_retried_and_reported_without_stopping_the_others(tiny_sweep):
    proc = tiny_sweep.proc
    assert proc.returncode == 1
    broken = [r for r in stored_runs(tiny_sweep.checkout) if r.config["name"] == "broken"]
    # each broken run: the first attempt and one retry, both FAILED in the store
    assert sorted(r.config["seed"] for r in broken) == [1, 1, 2, 2]
    assert {r.status for r in broken} == {"FAILED"}
    for seed in tiny_sweep.seeds:
        assert (
            f"FAILED mappo_paper {FAILING_TASK} seed={seed}: exit code 1 after 2 attempts"
            in proc.stdout
        )
        assert (
            f"RETRIED mappo_paper {FAILING_TASK} seed={seed}: attempt 1 failed: "
            "exit code 1" in proc.stdout
        )
    # the command to rerun it and the tail of its error
    assert "name=broken" in proc.stdout and f"env_args.key={FAILING_TASK}" in proc.stdout
    assert proc.stdout.count("RuntimeError: fail-tiny-2ag-v0 fails on purpose") == 2


def test_rerunning_the_spec_starts_no_run(tiny_sweep):
    before = run_dirs(tiny_sweep.checkout)
    proc = run_cli("sweep", tiny_sweep.good_spec, "--epymarl", tiny_sweep.checkout, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs, 4 already COMPLETED" in proc.stderr
    assert "0 COMPLETED, 0 FAILED, 4 skipped" in proc.stdout
    assert run_dirs(tiny_sweep.checkout) == before


def test_dry_run_prints_the_commands_and_marks_completed_ones(tiny_sweep, tmp_path):
    spec = write_spec(tmp_path / "three_seeds.yaml", tiny_spec(seeds=[1, 2, 3]))
    before = run_dirs(tiny_sweep.checkout)
    proc = run_cli("sweep", spec, "--epymarl", tiny_sweep.checkout, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# 6 runs in ") and "4 already COMPLETED" in lines[0]
    commands = lines[1:]
    assert len(commands) == 6
    done = [c for c in commands if c.startswith("# COMPLETED: ")]
    todo = [c for c in commands if not c.startswith("#")]
    assert len(done) == 4 and len(todo) == 2
    assert all(c.endswith("seed=3") for c in todo)
    argv = shlex.split(todo[0])
    assert argv[:5] == [
        "python",
        "src/main.py",
        "--config=mappo_paper",
        "--env-config=gymma",
        "with",
    ]
    assert f"env_args.key={tiny_sweep.task}" in argv and "t_max=1000" in argv
    assert run_dirs(tiny_sweep.checkout) == before


def test_same_grid_through_local_ray(epymarl_dir, tmp_path, tiny_sweep, completed_grid):
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    spec = write_spec(tmp_path / "tiny.yaml", tiny_spec())
    # local Ray limited to the 2 CPUs of the test machine; the command shuts it down
    proc = run_cli("sweep", spec, "--epymarl", checkout, "--ray", "--workers", 2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(local Ray (2 CPUs))" in proc.stdout
    assert completed_grid(checkout) == full_grid(tiny_sweep)


def test_sacred_literals_read_back_as_the_spec_values():
    for value in (
        "rware:rware-tiny-2ag-v2",
        "3s5z_vs_3s6z",
        "7",
        "True",
        5e-4,
        10,
        True,
        None,
        [1, 2],
        "a b",
    ):
        text = sacred_literal(value)
        try:
            read = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            read = text  # what Sacred does with text that is not a literal
        assert read == value and type(read) is type(value)
    run = RunSpec("mappo_paper", "gymma", (("env_args.key", "rware:rware-tiny-2ag-v2"),), 3)
    assert run.argv() == [
        "--config=mappo_paper",
        "--env-config=gymma",
        "with",
        "env_args.key=rware:rware-tiny-2ag-v2",
        "seed=3",
    ]


BAD_SPECS = [  # (how the tiny spec is made bad, the message)
    (
        lambda t: {**t(), "seed": [1]},
        "unknown key(s) seed; allowed: configs, env_configs, seeds, t_max, with, data_dir",
    ),
    (
        lambda t: t(configs=["mappo_paper", "mappo_nosuch"]),
        "configs[2]: unknown config 'mappo_nosuch'. Available: ",
    ),
    (
        lambda t: {**t(), "env_configs": ["gymmaa"]},
        "env_configs[1]: unknown env_config 'gymmaa'. Available: ",
    ),
    (
        lambda t: t(configs=[{"config": "mappo_paper", "overrides": {"lr": 1}}]),
        "configs[1]: unknown key(s) overrides; allowed: config, with",
    ),
    (
        lambda t: t(configs=[{"config": "mappo_paper", "with": {"seed": 3}}]),
        "configs[1]: `seed` is set by the spec's `seeds` list",
    ),
    (
        lambda t: t(configs=[{"config": "mappo_paper", "with": {"env_args": {"key": "x"}}}]),
        "override env_args is a mapping; give each entry as a dotted key",
    ),
    (lambda t: t(seeds=[]), "`seeds` must be a non-empty list of integers"),
    (lambda t: {**t(), "t_max": "1e6"}, "`t_max` must be a positive integer"),
    (lambda t: {**t(), "data_dir": 5}, "`data_dir` must be a directory path"),
    (lambda t: t(configs=["mappo_paper", "mappo_paper"]), "the grid has the run"),
]


@pytest.mark.parametrize("make_bad,message", BAD_SPECS, ids=[m[:30] for _, m in BAD_SPECS])
def test_bad_spec_is_one_clear_line_before_anything_runs(epymarl_dir, tmp_path, make_bad, message):
    spec = make_bad(tiny_spec)
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    path = write_spec(tmp_path / "bad.yaml", spec)
    proc = run_cli("sweep", path, "--epymarl", checkout, "--workers", 1)
    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("epymarl-sn sweep")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert errors[0].startswith(f"epymarl-sn sweep: error: sweep spec {path}: ")
    assert message in errors[0]
    assert not (checkout / "results").exists()


def test_unknown_config_lists_plugin_and_epymarl_names(epymarl_dir, tmp_path):
    path = write_spec(tmp_path / "bad.yaml", tiny_spec(configs=["mappo_nosuch"]))
    proc = run_cli("sweep", path, "--epymarl", copy_checkout(epymarl_dir, tmp_path / "e"))
    available = proc.stderr.split("Available: ")[1].split(", ")
    assert {"mappo", "qmix", "mappo_paper", "mappo_sn", "mappo_lastsn"} <= set(available)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--retries", "-1"], "--retries must be 0 or more"),
        (["--ray", "ray://nowhere:10001", "--workers", "2"], "drop --workers"),
        (
            ["--epymarl", "{tmp}/nothing"],
            "is not a patched EPyMARL checkout: run `epymarl-sn setup",
        ),
    ],
)
def test_bad_flags_are_one_clear_line(tiny_sweep, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--epymarl" not in args:
        args += ["--epymarl", str(tiny_sweep.checkout)]
    proc = run_cli("sweep", tiny_sweep.good_spec, *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1].startswith("epymarl-sn sweep: error: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_shipped_paper_specs_expand_to_the_paper_grids(epymarl_dir):
    for name, env_config, tasks in [
        (
            "paper_rware",
            "gymma",
            ["rware:rware-tiny-2ag-v2", "rware:rware-tiny-4ag-v2", "rware:rware-small-2ag-v2"],
        ),
        ("paper_smaclite", "smaclite_sparse", ["3s5z_vs_3s6z", "27m_vs_30m", "corridor"]),
        ("paper_sc2", "sc2_sparse", ["3s5z_vs_3s6z", "27m_vs_30m", "corridor"]),
    ]:
        proc = run_cli("sweep", name, "--epymarl", epymarl_dir, "--dry-run")
        assert proc.returncode == 0, proc.stderr
        commands = [shlex.split(c) for c in proc.stdout.splitlines()[1:]]
        if env_config == "gymma":  # the authors' episode length (docs/rware_fig2.md)
            assert all("env_args.time_limit=100" in c for c in commands)
        grid = Counter(
            (
                c[2],
                c[3],
                next(
                    a.split("=", 1)[1]
                    for a in c
                    if a.startswith(("env_args.map_name=", "env_args.key="))
                ),
                c[-1],
            )
            for c in commands
        )
        assert grid == Counter(
            {
                (f"--config={v}", f"--env-config={env_config}", t, f"seed={s}"): 1
                for v in ("mappo_paper", "mappo_fullsn", "mappo_midsn", "mappo_lastsn")
                for t in tasks
                for s in (1, 2, 3, 4)
            }
        )


HANGING_TASK = "hanging_env:hang-tiny-2ag-v0"


@pytest.fixture
def hanging_spec(tmp_path):
    """A spec of one tiny run of the RWARE task of hanging_env.py, in the training process."""
    spec = tiny_spec(configs=["mappo_paper"], seeds=[1])
    spec["env_configs"][0]["with"]["env_args.key"] = HANGING_TASK
    spec["with"].update({"runner": "episode", "batch_size_run": 1})
    return write_spec(tmp_path / "hang.yaml", spec)


def hang_env(marker=None):
    """The environment of a sweep whose runs can import hanging_env; with a marker
    file, its env hangs."""
    tests = str(Path(__file__).parent)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    return {**env, "EPYMARL_SN_TEST_HANG": str(marker)} if marker else env


def stored_runs_json(checkout):
    return [json.loads(p.read_text()) for p in (checkout / "results" / "sacred").rglob("run.json")]


# long enough for a run to reach its env on a loaded 2-core machine (about 10 s idle)
HANG_S = 45


def test_a_hanging_run_is_stopped_by_the_timeout(epymarl_dir, tmp_path, hanging_spec):
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    path = hanging_spec
    marker = tmp_path / "hanging.pid"
    proc = run_cli(
        "sweep",
        path,
        "--epymarl",
        checkout,
        "--workers",
        1,
        "--retries",
        0,
        "--timeout",
        HANG_S,
        timeout=180,
        env=hang_env(marker),
    )
    assert proc.returncode == 1
    assert "0 COMPLETED, 1 FAILED" in proc.stdout
    assert proc.stdout.rstrip().endswith(
        f"| epymarl-sn sweep: stopped by epymarl-sn sweep after the --timeout of {HANG_S} s"
    )
    log = Path(proc.stdout.split("; log ")[1].splitlines()[0])
    assert log.parent == checkout / "results" / "sweep_logs" / "hang"
    # the run had started (its env was made, then hung): Sacred stored it as RUNNING,
    # and the sweep's stop left it INTERRUPTED with the reason
    assert marker.exists(), "the run never reached its env: raise the --timeout"
    (run,) = stored_runs_json(checkout)
    assert run["status"] == "INTERRUPTED"
    assert run["stop_reason"] == f"stopped by epymarl-sn sweep after the --timeout of {HANG_S} s"
    assert run["meta"]["comment"].startswith("epymarl-sn sweep: hang/000_mappo_paper")


def test_a_run_whose_process_dies_is_marked_failed_and_rerun(epymarl_dir, tmp_path, hanging_spec):
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    path = hanging_spec
    marker = tmp_path / "hanging.pid"
    sweep = start_cli(
        "sweep", path, "--epymarl", checkout, "--workers", 1, "--retries", 0, env=hang_env(marker)
    )
    try:
        # the env is made inside Sacred's run: once the marker is there, the store
        # holds the run as RUNNING, however slow the machine
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < deadline, "the run never reached its env"
            time.sleep(0.2)
        assert [r["status"] for r in stored_runs_json(checkout)] == ["RUNNING"]
        os.kill(int(marker.read_text()), signal.SIGKILL)
        out, err = sweep.communicate(timeout=120)
    finally:
        sweep.kill()
    assert sweep.returncode == 1, err
    assert "0 COMPLETED, 1 FAILED" in out
    assert "| epymarl-sn sweep:" not in out  # not stopped by the sweep: it died
    (run,) = stored_runs_json(checkout)
    assert run["status"] == "FAILED"
    assert run["stop_reason"] == "its process was killed by SIGKILL"
    assert run["stop_time"] >= run["start_time"]
    # the next sweep runs it again, this time to the end
    proc = run_cli("sweep", path, "--epymarl", checkout, "--workers", 1, env=hang_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 runs, 0 already COMPLETED" in proc.stderr
    assert sorted(r["status"] for r in stored_runs_json(checkout)) == ["COMPLETED", "FAILED"]


def test_an_unreachable_ray_cluster_is_one_clear_line(tiny_sweep, tmp_path):
    spec = write_spec(tmp_path / "seed9.yaml", tiny_spec(seeds=[9]))
    before = run_dirs(tiny_sweep.checkout)
    proc = run_cli(
        "sweep", spec, "--epymarl", tiny_sweep.checkout, "--ray", "127.0.0.1:1", timeout=60
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1] == (
        "epymarl-sn sweep: error: nothing answers at the Ray address 127.0.0.1:1 "
        "(Connection refused): start the cluster (`ray start --head`) or fix the address"
    )
    assert run_dirs(tiny_sweep.checkout) == before


def test_a_second_sweep_refuses_then_waits_for_the_run_a_killed_sweep_still_runs(
    epymarl_dir, tmp_path, hanging_spec
):
    """Two sweeps on one checkout would each run every run: while the first lives, the
    second refuses in one line naming it; once the first is killed, the second waits for
    the run the first left RUNNING (its watchdog stops it), then runs it."""
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    marker = tmp_path / "hanging.pid"
    first = start_cli(
        "sweep",
        hanging_spec,
        "--epymarl",
        checkout,
        "--workers",
        1,
        "--retries",
        0,
        env=hang_env(marker),
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():  # the first sweep's run is RUNNING in the store
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never reached its env"
            time.sleep(0.2)
        refused = run_cli("sweep", hanging_spec, "--epymarl", checkout, env=hang_env())
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert re.fullmatch(
            rf"epymarl-sn sweep: error: sweep {re.escape(str(hanging_spec))} \(PID {first.pid}, "
            rf"since [\d: -]+\) is running on {re.escape(str(checkout))}: one sweep at a time "
            r"on a checkout \(both would run the same runs\); wait for it to end or stop it",
            refused.stderr.strip().splitlines()[-1],
        ), refused.stderr
        # the first sweep dies; the watchdog of its run stops the run
        first.send_signal(signal.SIGKILL)
        first.communicate()
        second = run_cli(
            "sweep", hanging_spec, "--epymarl", checkout, "--workers", 1, env=hang_env()
        )
    finally:
        first.kill()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 COMPLETED, 0 FAILED" in second.stdout
    assert not alive(int(marker.read_text()))
    interrupted, completed = sorted(stored_runs_json(checkout), key=lambda r: r["start_time"])
    assert interrupted["status"] == "INTERRUPTED" and completed["status"] == "COMPLETED"
    assert interrupted["stop_reason"] == REASON
    assert interrupted["stop_time"] <= completed["start_time"]  # never both at once
