"""A stopped run goes on where it stopped: real tiny RWARE runs (the batched backend,
mappo_midsn: SN u/v in the checkpoint) on the patched EPyMARL, stopped by a real SIGTERM
at a random moment and resumed with `epymarl-sn resume`, log every metric the same run
logs without a stop, step for step and value for value, in the same Sacred run; the
checkpoint and EPyMARL's model saves are whole or absent under a SIGKILL at a random
moment; a changed config, a damaged checkpoint and a finished run are refused in one
line."""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from epymarl_sn.checkpoint import files

from helpers import cli_env, copy_checkout, old_sn_layout

T_MAX = 4000
ARGS = (
    "--config=mappo_midsn",
    "--env-config=gymma",
    "with",
    "env_args.key=rware:rware-tiny-2ag-v2",
    "env_args.time_limit=50",  # 10 envs x 50 steps: 500 env steps a batch
    f"t_max={T_MAX}",
    "test_interval=1000",
    "log_interval=1000",
    "runner_log_interval=1000",
    "learner_log_interval=1000",
    "test_nepisode=10",
    "checkpoint_interval=1000",
    "save_model=True",
    "save_model_interval=1000",
    "seed=5",
)


class Main:
    """`python src/main.py ARGS` in a checkout, in a process group of its own."""

    def __init__(self, work: Path, *args: str, env: "dict[str, str] | None" = None) -> None:
        self.log = work / f"main-{time.monotonic_ns()}.txt"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "src/main.py", *args],
                cwd=work,
                env=cli_env(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert self.proc.poll() is None, f"ended before {text!r}:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout_s}s"
            time.sleep(0.1)

    def finish(self, timeout_s: float = 300) -> int:
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def resume(
    work: Path, run_id: str, *args: str, env: "dict[str, str] | None" = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "epymarl_sn", "resume", run_id, *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_env(env),
    )


def run_dirs(work: Path) -> "list[Path]":
    return sorted(p.parent for p in (work / "results" / "sacred").rglob("run.json"))


def load(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / name).read_text())


def points(run_dir: Path) -> "dict[str, tuple[list, list]]":
    """Every logged metric: name -> (steps, values)."""
    return {k: (m["steps"], m["values"]) for k, m in load(run_dir, "metrics.json").items()}


def models(work: Path, run_dir: Path) -> "dict[str, dict]":
    """The models EPyMARL saved for the run: 'step/file' -> what torch loads."""
    token_dirs = list((work / "results" / "models").iterdir())
    config = load(run_dir, "config.json")
    (token,) = [
        d for d in token_dirs if d.name.startswith(f"{config['name']}_seed{config['seed']}_")
    ]
    return {
        f"{step.name}/{f.name}": torch.load(f, weights_only=False)
        for step in sorted(token.iterdir())
        for f in sorted(step.iterdir())
    }


def same_tensors(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_tensors(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def stop_mid_run(
    work: Path,
    after: str,
    rng: random.Random,
    env: "dict[str, str] | None" = None,
    extra: "tuple[str, ...]" = (),
    args: "tuple[str, ...]" = ARGS,
    max_delay_s: float = 0.3,  # a fast machine runs the rest of a 4000-step run in ~1 s
) -> "tuple[Path, str]":
    """Start the run, SIGTERM it at a random moment (up to max_delay_s) after `after` is
    logged; -> its run directory and the stop reason it records."""
    main = Main(work, *args, *extra, env=env)
    try:
        main.wait_for(after)
        time.sleep(rng.uniform(0.0, max_delay_s))
        os.kill(main.proc.pid, signal.SIGTERM)  # as `kill`, `scancel` or Slurm's time limit
        assert main.finish() == 128 + signal.SIGTERM, main.output()[-3000:]
    finally:
        main.kill()
    out = main.output()
    assert "Traceback" not in out
    (run_dir,) = [d for d in run_dirs(work) if load(d, "run.json")["status"] == "INTERRUPTED"]
    reason = load(run_dir, "run.json")["stop_reason"]
    assert re.fullmatch(
        rf"stopped by SIGTERM; checkpoint at t_env \d+ in {run_dir}/checkpoint", reason
    )
    assert out.rstrip().splitlines()[-1] == f"epymarl-sn: run INTERRUPTED: {reason}"
    return run_dir, reason


@pytest.fixture(scope="module")
def uninterrupted(epymarl_dir, tmp_path_factory):
    """The run never stopped: its checkout and run directory."""
    work = copy_checkout(epymarl_dir, tmp_path_factory.mktemp("uninterrupted") / "epymarl")
    main = Main(work, *ARGS)
    try:
        assert main.finish() == 0, main.output()[-3000:]
    finally:
        main.kill()
    (run_dir,) = run_dirs(work)
    assert load(run_dir, "run.json")["status"] == "COMPLETED"
    return work, run_dir


@pytest.fixture
def work(epymarl_dir, tmp_path):
    return copy_checkout(epymarl_dir, tmp_path / "epymarl")


@pytest.mark.parametrize(
    "envs",
    [
        (),
        # rware's own envs in 2 worker processes: their generators and the workers'
        # streams are in the checkpoint; the episodes are the batched backend's
        ("rware_batched=False", "vector_workers=2"),
    ],
    ids=["batched", "workers"],
)
def test_a_run_stopped_by_sigterm_and_resumed_logs_what_it_would_have_logged(
    uninterrupted, work, envs
):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # a random moment after a random checkpoint
    after = f"checkpoints: t_env {rng.choice((1000, 2000, 3000))} written"
    run_dir, reason = stop_mid_run(work, after, rng, extra=envs)
    stopped_at = files.read(run_dir / "checkpoint").t_env
    assert 1000 <= stopped_at <= T_MAX, f"stopped mid-run (random seed {seed})"
    run_id = str(run_dir.relative_to(work / "results" / "sacred"))

    proc = resume(work, run_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        f"resuming run {run_id} (INTERRUPTED) from {run_dir}/checkpoint at t_env {stopped_at}"
        in proc.stderr
    )

    assert run_dirs(work) == [run_dir], "the same run, not a second one"
    record = load(run_dir, "run.json")
    assert record["status"] == "COMPLETED"
    assert "stop_reason" not in record
    assert [r["t_env"] for r in record["resumed"]] == [stopped_at]
    assert record["start_time"] < record["resumed"][0]["time"]  # the stopped run's start kept
    # a finished run's checkpoints are gone (it is not resumed)
    assert not list(run_dir.glob("checkpoint*")) and not list(run_dir.glob(".checkpoint*"))

    done_work, done_dir = uninterrupted
    expected = points(done_dir)
    got = points(run_dir)
    assert got.keys() == expected.keys()
    for name in expected:  # every point, once, with the same value (random seed in the message)
        assert got[name] == expected[name], f"{name} (stopped at t_env {stopped_at}, seed {seed})"
    # EPyMARL's own copy of every logged point, in the run's info
    assert load(run_dir, "info.json") == load(done_dir, "info.json")
    # the saved models: same steps, same weights and optimiser states, each directory whole
    saved, expected_models = models(work, run_dir), models(done_work, done_dir)
    assert saved.keys() == expected_models.keys()
    assert all(same_tensors(saved[k], expected_models[k]) for k in saved)


def test_a_changed_config_is_refused_in_one_line_and_t_max_changes_when_asked(uninterrupted, work):
    run_dir, _ = stop_mid_run(work, "checkpoints: t_env 1000 written", random.Random())
    before = points(run_dir)
    checkpoint = run_dir / "checkpoint"
    env = {"EPYMARL_SN_RESUME": str(checkpoint)}

    # the run's own command with another learning rate
    changed = Main(work, *ARGS, "lr=0.001", env=env)
    assert changed.finish() != 0
    lines = changed.output().strip().splitlines()
    assert "Traceback" not in changed.output()
    assert re.fullmatch(
        rf"error: cannot resume from {checkpoint}: the config differs from the checkpoint's "
        r"in lr \(checkpoint: 0\.0005, now: 0\.001\); .*--t-max N`\)",
        lines[-1],
    ), lines[-1]
    # a longer t_max, not asked for
    longer = Main(work, *ARGS, "t_max=5000", env=env)
    assert longer.finish() != 0
    assert "differs from the checkpoint's in t_max (checkpoint: 4000, now: 5000)" in longer.output()
    assert load(run_dir, "run.json")["status"] == "INTERRUPTED" and points(run_dir) == before

    # asked for: the run goes on to t_max 5000, the uninterrupted run's points first
    proc = resume(work, str(run_dir.relative_to(work / "results" / "sacred")), "--t-max", "5000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load(run_dir, "run.json")["status"] == "COMPLETED"
    assert load(run_dir, "config.json")["t_max"] == 5000
    expected, got = points(uninterrupted[1]), points(run_dir)
    for name, (steps, values) in expected.items():
        assert got[name][0][: len(steps)] == steps and got[name][1][: len(values)] == values, name
    assert max(got["episode"][0]) > max(expected["episode"][0])

    again = resume(work, str(run_dir.relative_to(work / "results" / "sacred")))
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"epymarl-sn resume: error: run {run_dir.relative_to(work / 'results' / 'sacred')} is "
        "COMPLETED: there is nothing to resume"
    ]


def test_a_damaged_checkpoint_is_refused_in_one_line_and_the_previous_one_used(
    uninterrupted, work, tmp_path
):
    # soon after the checkpoint at 2000: the run must still be in its loop (a faster one
    # may end the 2000 steps left within a second)
    run_dir, _ = stop_mid_run(
        work, "checkpoints: t_env 2000 written", random.Random(), max_delay_s=0.2
    )
    run_id = str(run_dir.relative_to(work / "results" / "sacred"))
    newest, previous = run_dir / "checkpoint", run_dir / "checkpoint.prev"
    assert files.problem(newest) is None and files.problem(previous) is None
    state = newest / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the state flipped, as a bad disk would
    state.write_bytes(bytes(data))

    aside = tmp_path / "prev"
    shutil.move(previous, aside)
    alone = resume(work, run_id)
    assert alone.returncode == 1
    assert alone.stderr.strip().splitlines() == [
        f"epymarl-sn resume: error: checkpoint {newest} is damaged (its state.pt does not match "
        "the checksum it was written with) and the run has no whole one to resume from; run "
        "it again from the start"
    ]
    assert load(run_dir, "run.json")["status"] == "INTERRUPTED"

    shutil.move(aside, previous)
    proc = resume(work, run_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        f"epymarl-sn: checkpoint {newest} is damaged (its state.pt does not match the checksum "
        f"it was written with); using the previous one, {previous}"
    ) in proc.stderr.splitlines()
    assert load(run_dir, "run.json")["status"] == "COMPLETED"
    assert points(run_dir) == points(uninterrupted[1])


WRITER = textwrap.dedent(
    """
    import sys, torch
    from pathlib import Path
    from epymarl_sn.checkpoint import files
    run_dir = Path(sys.argv[1])
    found = files.latest(run_dir, print)
    i = found.t_env if found else 0
    while True:
        i += 1
        state = {"i": i, "blob": torch.full((1_000_000,), float(i))}
        files.write(
            run_dir, lambda p: torch.save(state, p), {"m": {"steps": [i], "values": [i]}},
            {"t_env": i},
        )
        print(i, flush=True)
    """
)


def test_a_checkpoint_of_the_old_sn_layer_is_refused_in_one_line(work):
    run_dir, _ = stop_mid_run(work, "checkpoints: t_env 1000 written", random.Random())
    run_id = str(run_dir.relative_to(work / "results" / "sacred"))
    checkpoint = run_dir / "checkpoint"
    state_file = checkpoint / files.STATE
    # its critics as the SN layer before torch's parametrization saved them, and the
    # checkpoint whole, as the plugin wrote it then (its checksum in meta.json)
    whole = torch.load(state_file, weights_only=False)
    for name in ("critic", "target_critic"):
        kind, state = whole["learner"][name]
        whole["learner"][name] = (kind, old_sn_layout(state))
        assert {"fc2.weight", "fc2.u", "fc2.v"} <= set(whole["learner"][name][1])
    torch.save(whole, state_file)
    meta = load(checkpoint, files.META)
    meta["sha256"][files.STATE] = hashlib.sha256(state_file.read_bytes()).hexdigest()
    (checkpoint / files.META).write_text(json.dumps(meta))
    assert files.problem(checkpoint) is None

    proc = resume(work, run_id)
    assert proc.returncode != 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: cannot resume from {checkpoint}: its critic was saved by an older SN layer "
        "(fc2.weight, fc2.u, fc2.v: SNLinear before commit 92e6459, which made it torch's "
        "spectral-norm parametrization, fc2.parametrizations.weight.original, ...); "
        "allowed: checkpoints written by epymarl-sn since commit 92e6459; run it again from "
        "the start, or resume it with the epymarl-sn that wrote it (before commit 92e6459)"
    )
    assert load(run_dir, "run.json")["status"] == "INTERRUPTED"


def test_a_checkpoint_killed_at_a_random_moment_of_writing_is_the_old_or_the_new_one(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rng = random.Random()
    for _ in range(12):
        log = tmp_path / "writer.txt"
        with open(log, "w") as out:
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(run_dir)], stdout=out, stderr=subprocess.STDOUT
            )
            while not log.read_text().strip():  # at least one written
                assert writer.poll() is None, log.read_text()
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        done = int(log.read_text().split()[-1])  # the last write that returned
        found = files.latest(run_dir, pytest.fail)  # never a damaged newest one
        assert found is not None and found.t_env in (done, done + 1)
        state = torch.load(found.path / files.STATE, weights_only=False)
        assert state["i"] == found.t_env and bool((state["blob"] == found.t_env).all())
        assert found.metrics() == {"m": {"steps": [found.t_env], "values": [found.t_env]}}


def test_model_saves_are_whole_or_absent_when_killed_at_a_random_moment(work):
    rng = random.Random()
    for _ in range(3):
        main = Main(work, *ARGS[:5], "t_max=1000000", "save_model=True", "save_model_interval=500")
        try:
            main.wait_for("Saving models")
            time.sleep(rng.uniform(0.0, 2.0))
        finally:
            main.kill()  # SIGKILL: no handler runs
    saved = [d for d in (work / "results" / "models").glob("*/*") if d.name.isdigit()]
    assert len(saved) >= 3
    for step in saved:
        assert sorted(f.name for f in step.iterdir()) == [
            "agent.th",
            "agent_opt.th",
            "critic.th",
            "critic_opt.th",
        ], step


def sweep_spec(t_max: int, overrides: dict) -> dict:
    """A sweep spec of the one run ARGS describes: mappo_midsn on tiny RWARE, seed 5."""
    return {
        "configs": ["mappo_midsn"],
        "env_configs": [
            {
                "env_config": "gymma",
                "with": {"env_args.key": "rware:rware-tiny-2ag-v2", "env_args.time_limit": 50},
            }
        ],
        "seeds": [5],
        "t_max": t_max,
        "with": overrides,
    }


def test_a_killed_sweep_resumes_its_run_from_the_checkpoint(uninterrupted, work, tmp_path):
    """The sweep's driver is SIGKILLed mid-run (its watchdog stops the run); the same
    sweep started again resumes the run from its checkpoint: one run in the store,
    COMPLETED, with the numbers of the run never stopped."""
    spec = sweep_spec(
        T_MAX,
        {  # ARGS's, typed
            "test_interval": 1000,
            "log_interval": 1000,
            "runner_log_interval": 1000,
            "learner_log_interval": 1000,
            "test_nepisode": 10,
            "checkpoint_interval": 1000,
            "save_model": True,
            "save_model_interval": 1000,
        },
    )
    path = tmp_path / "resume.yaml"
    path.write_text(json.dumps(spec))  # YAML reads JSON
    sacred = work / "results" / "sacred"
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "epymarl_sn",
            "sweep",
            str(path),
            "--epymarl",
            str(work),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(sacred.rglob("checkpoint/meta.json")):
            assert first.poll() is None and time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.1)
        time.sleep(random.uniform(0.0, 1.0))
        first.send_signal(signal.SIGKILL)  # the driver alone: its watchdog stops the run
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    (run_dir,) = run_dirs(work)
    deadline = time.monotonic() + 120
    while load(run_dir, "run.json")["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the watchdog did not settle the run"
        time.sleep(0.2)
    stopped_at = files.latest(run_dir, pytest.fail).t_env

    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "epymarl_sn",
            "sweep",
            str(path),
            "--epymarl",
            str(work),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_env(),
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert run_dirs(work) == [run_dir], "the same run, not a second one"
    record = load(run_dir, "run.json")
    assert record["status"] == "COMPLETED"
    assert [r["t_env"] for r in record["resumed"]] == [stopped_at]
    (log,) = (work / "results" / "sweep_logs").rglob("*.log")
    assert f"epymarl-sn sweep: resuming {run_dir} from its checkpoint at t_env {stopped_at}" in (
        log.read_text()
    )
    assert points(run_dir) == points(uninterrupted[1])


def progress(log: str) -> int:
    """The last `t_env: N / T` a run's log has (EPyMARL's line at each test), or 0."""
    return max((int(n) for n in re.findall(r"t_env: (\d+) / ", log)), default=0)


@pytest.mark.parametrize(
    "pool", [("--workers", "1"), ("--ray", "--workers", "1")], ids=["local", "ray"]
)
def test_a_sweep_stopped_by_ctrl_c_checkpoints_its_run_where_it_stands(work, tmp_path, pool):
    """Ctrl-C to a sweep stops its run at a checkpoint written then (there is no
    periodic one), also under Ray, whose workers start runs with SIGINT ignored; the
    same sweep started again resumes the run to COMPLETED."""
    spec = sweep_spec(
        20000, {"test_interval": 1000, "test_nepisode": 10, "checkpoint_interval": 10**9}
    )
    path = tmp_path / "stop.yaml"
    path.write_text(json.dumps(spec))  # YAML reads JSON
    sweep = [sys.executable, "-m", "epymarl_sn", "sweep", str(path), "--epymarl", str(work)]
    first = subprocess.Popen(
        [*sweep, *pool],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        start_new_session=True,
    )
    logs = work / "results" / "sweep_logs"
    try:
        deadline = time.monotonic() + 300
        while max([0, *(progress(p.read_text()) for p in logs.rglob("*.log"))]) < 1000:
            assert first.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.1)
        first.send_signal(signal.SIGINT)
        first.wait(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    (run_dir,) = run_dirs(work)
    assert load(run_dir, "run.json")["status"] == "INTERRUPTED"
    stopped_at = files.read(run_dir / "checkpoint").t_env
    assert 1000 <= stopped_at < 20000

    again = subprocess.run(
        [*sweep, "--workers", "1"], capture_output=True, text=True, timeout=600, env=cli_env()
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert run_dirs(work) == [run_dir], "the same run, not a second one"
    record = load(run_dir, "run.json")
    assert record["status"] == "COMPLETED"
    assert [r["t_env"] for r in record["resumed"]] == [stopped_at]


def test_a_run_in_mongodb_too_goes_on_in_the_same_document(uninterrupted, work, mongo_server):
    env = {"SACRED_MONGO_URL": mongo_server.url}
    run_dir, reason = stop_mid_run(work, "checkpoints: t_env 1000 written", random.Random(), env)
    db = mongo_server.db()
    (stopped,) = db.runs.find()
    assert (stopped["status"], stopped["stop_reason"]) == ("INTERRUPTED", reason)
    stopped_at = files.read(run_dir / "checkpoint").t_env

    # RUN as `runs --store URL` names it: MongoDB's id
    proc = resume(work, str(stopped["_id"]), "--store", mongo_server.url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (doc,) = db.runs.find()
    assert (doc["_id"], doc["status"]) == (stopped["_id"], "COMPLETED")
    assert "stop_reason" not in doc and doc["start_time"] == stopped["start_time"]
    assert [r["t_env"] for r in doc["resumed"]] == [stopped_at]
    assert doc["captured_out"].startswith(stopped["captured_out"])  # its output goes on
    expected = points(uninterrupted[1])
    stored = {m["name"]: (m["steps"], m["values"]) for m in db.metrics.find()}
    assert stored == expected  # one document per metric, every point once
    assert sorted(m["name"] for m in doc["info"]["metrics"]) == sorted(expected)
    assert points(run_dir) == expected  # and the file-storage copy


SMACLITE = (
    "--config=mappo_sn",
    "--env-config=smaclite_sparse",
    "with",
    "env_args.map_name=2s3z",
    "env_args.time_limit=60",
    "t_max=1200",
    "batch_size_run=2",  # two envs, in the vector runner's worker processes
    "vector_workers=2",
    "buffer_size=2",
    "batch_size=2",
    "test_interval=400",
    "log_interval=400",
    "runner_log_interval=400",
    "learner_log_interval=400",
    "test_nepisode=2",
    "checkpoint_interval=400",
    "seed=7",
)


@pytest.mark.parametrize("batched", [False, True])
def test_a_smaclite_run_stopped_and_resumed_logs_what_it_would_have_logged(
    epymarl_dir, tmp_path, batched
):
    """SMAClite's battles in worker processes (the envs' generators and the workers'
    streams go on as they would have), or on the batched backend (its games' generators
    and the last actions a reset keeps)."""
    args = (*SMACLITE, f"smaclite_batched={batched}")
    done_work = copy_checkout(epymarl_dir, tmp_path / "uninterrupted")
    main = Main(done_work, *args)
    try:
        assert main.finish(timeout_s=600) == 0, main.output()[-3000:]
    finally:
        main.kill()
    (done_dir,) = run_dirs(done_work)

    work = copy_checkout(epymarl_dir, tmp_path / "stopped")
    seed = random.randrange(1 << 30)
    run_dir, _ = stop_mid_run(
        work, "checkpoints: t_env 4", random.Random(seed), args=args, max_delay_s=0.2
    )
    proc = resume(work, str(run_dir.relative_to(work / "results" / "sacred")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load(run_dir, "run.json")["status"] == "COMPLETED"
    expected, got = points(done_dir), points(run_dir)
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], f"{name} (random seed {seed})"


def test_a_run_killed_without_warning_resumes_from_its_last_checkpoint(uninterrupted, work):
    """SIGKILL: no handler runs, the run stays RUNNING; its process gone, `resume` goes
    on from the last periodic checkpoint."""
    seed = random.randrange(1 << 30)
    main = Main(work, *ARGS)
    try:
        main.wait_for("checkpoints: t_env 1000 written")
        # soon: a fast run may end its 3000 steps left within seconds
        time.sleep(random.Random(seed).uniform(0.0, 0.2))
    finally:
        main.kill()  # SIGKILL to its process group
    (run_dir,) = run_dirs(work)
    assert load(run_dir, "run.json")["status"] == "RUNNING"
    run_id = str(run_dir.relative_to(work / "results" / "sacred"))

    # its process is gone: liveness is by process, so it resumes at once (a run whose
    # process lives, with a fresh heartbeat, is refused: test_catalogue)
    proc = resume(work, run_id)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = load(run_dir, "run.json")
    assert record["status"] == "COMPLETED" and len(record["resumed"]) == 1
    assert points(run_dir) == points(uninterrupted[1]), f"random seed {seed}"
