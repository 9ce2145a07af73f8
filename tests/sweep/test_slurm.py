"""docs/slurm_ray_sweep.sbatch, the README's Slurm recipe, submitted to a real Slurm:
a single-node cluster of Debian's slurm-wlm 22.05 (slurmctld and slurmd on 127.0.0.1,
authenticated by munge), started here and stopped by PID. The job starts Ray on its
node and runs a tiny sweep into a real MongoDB; every run must be COMPLETED there once.
A job told that its time limit is near requeues itself, and its run, stopped at a
checkpoint, goes on when the job starts again, with the numbers of a run never stopped.

Needs root (munged runs as the munge user, Slurm as root) and the Debian packages
slurm-wlm and munge (`.ci/run` installs them when missing)."""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pymongo
import pytest

from epymarl_sn.board.local_server import free_port

from helpers import cli_env, copy_checkout, running_in, tiny_spec, write_spec

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "slurm_ray_sweep.sbatch"
HOST = "localhost"  # Slurm's node name; slurmd is told it with -N
MUNGE_DIR = Path("/run/munge")  # where Debian's munge and slurm look for munged's socket


def stop(proc, grace_s=20):
    """A daemon started here, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def munge_answers():
    cred = subprocess.run(["munge", "-n"], capture_output=True, check=False)
    if cred.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True).returncode == 0


def slurm_conf(root, cpus, memory_mb):
    return f"""ClusterName=epymarlsn
SlurmctldHost={HOST}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName={HOST} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=main Nodes={HOST} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm():
    """A single-node Slurm: -> the environment its commands need (SLURM_CONF)."""
    assert os.geteuid() == 0, "the Slurm test needs root (munged, slurmctld, slurmd)"
    for tool in ("munged", "slurmctld", "slurmd", "sbatch"):
        assert shutil.which(tool), f"{tool} not found: apt-get install slurm-wlm munge"
    root = Path(tempfile.mkdtemp(prefix="slurm-"))
    started = []
    try:
        if not munge_answers():
            munge = pwd.getpwnam("munge")
            MUNGE_DIR.mkdir(exist_ok=True)
            os.chown(MUNGE_DIR, munge.pw_uid, munge.pw_gid)
            started.append(
                subprocess.Popen(
                    [
                        "setpriv",
                        f"--reuid={munge.pw_uid}",
                        f"--regid={munge.pw_gid}",
                        "--init-groups",
                        "munged",
                        "--foreground",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=open(root / "munged.log", "wb"),  # noqa: SIM115
                    start_new_session=True,
                )
            )
            deadline = time.monotonic() + 30
            while not munge_answers():
                assert started[-1].poll() is None, (root / "munged.log").read_text()
                assert time.monotonic() < deadline, "munged did not answer"
                time.sleep(0.2)
        (root / "state").mkdir()
        (root / "spool").mkdir()
        memory_mb = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 * 9 // 10
        conf = root / "slurm.conf"
        conf.write_text(slurm_conf(root, os.cpu_count(), memory_mb))
        env = {**os.environ, "SLURM_CONF": str(conf)}
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", HOST]):
            started.append(
                subprocess.Popen(
                    [*daemon, "-f", str(conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while True:
            state = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env
            ).stdout.strip()
            if state == "idle":
                break
            assert all(p.poll() is None for p in started), f"a daemon exited: see {root}"
            assert time.monotonic() < deadline, f"the node is '{state}': see {root}"
            time.sleep(0.5)
        yield env
        subprocess.run(["scancel", "--full", "-u", "root"], env=env, check=False)
    finally:
        for proc in reversed(started):
            stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def processes_of(directory):
    """PIDs of the processes whose command line names `directory` (Ray's, by its temp
    dir)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(directory).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def job_state(env, job):
    shown = subprocess.run(
        ["scontrol", "show", "job", job], capture_output=True, text=True, env=env
    ).stdout
    found = re.search(r"JobState=(\S+)", shown)
    return found.group(1) if found else "gone"


def wait_for_end(env, job, out, timeout_s=900):
    """-> the job's state once it has ended (through any requeue)."""
    deadline = time.monotonic() + timeout_s
    while (state := job_state(env, job)) in (
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
    ):
        assert time.monotonic() < deadline, out.read_text() if out.exists() else state
        time.sleep(2)
    return state


def recipe_env(slurm, spec, checkout, mongo_url, db, ray_dir):
    """The recipe's SET values, from the environment sbatch passes on."""
    return {
        **slurm,
        "SPEC": str(spec),
        "VENV": sys.prefix,
        "EPYMARL": str(checkout),
        "SACRED_MONGO_URL": mongo_url,
        "SACRED_MONGO_DB": db,
        "RAY_PORT": str(free_port()),
        "RAY_TMPDIR": str(ray_dir),
    }


def submit(env, out, cwd):
    """sbatch the recipe on the one node -> the job's id."""
    submitted = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--nodes=1",
            f"--cpus-per-task={os.cpu_count()}",
            "--time=30:00",
            f"--output={out}",
            str(RECIPE),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    return submitted.stdout.strip().split(";")[0]


def clean_up(env, job, ray_dir, checkout):
    subprocess.run(["scancel", job], env=env, check=False)
    for pid in processes_of(ray_dir) + running_in(checkout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(ray_dir, ignore_errors=True)


def test_the_slurm_recipe_runs_a_sweep_on_ray_into_mongodb(slurm, mongo_url, epymarl_dir, tmp_path):
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    spec = write_spec(tmp_path / "tiny.yaml", tiny_spec(seeds=[1]))
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-"))  # Ray's sockets need a short path
    db = "slurm_recipe"
    env = recipe_env(slurm, spec, checkout, mongo_url, db, ray_dir)
    out = tmp_path / "job.out"
    job = submit(env, out, tmp_path)
    try:
        state = wait_for_end(slurm, job, out)
        log = out.read_text() if out.exists() else ""
        assert state == "COMPLETED", f"{state}\n{log[-3000:]}"
        assert "2 COMPLETED, 0 FAILED" in log, log[-3000:]

        client = pymongo.MongoClient(mongo_url)
        try:
            runs = list(client[db].runs.find({}, {"status": 1, "config": 1, "host": 1}))
        finally:
            client.close()
        done = Counter(
            (r["config"]["name"], r["config"]["seed"]) for r in runs if r["status"] == "COMPLETED"
        )
        assert done == Counter({("mappo_paper", 1): 1, ("mappo_sn", 1): 1})
        assert len(runs) == 2  # nothing ran twice, nothing failed
        assert all(r["host"]["ENV"].get("EPYMARL_SN_RAY_NODE") for r in runs)
        # the job's end stopped Ray and the runs: nothing of them is left
        assert running_in(checkout) == [] and processes_of(ray_dir) == []
    finally:
        clean_up(slurm, job, ray_dir, checkout)


# a tiny RWARE run of the batched backend that checkpoints every other batch
T_MAX = 60000  # long enough (about 40 s here) to be stopped mid-run
RUN_WITH = {
    "env_args.key": "rware:rware-tiny-2ag-v2",
    "env_args.time_limit": 50,  # 10 envs x 50 steps: 500 env steps a batch
    "test_interval": 1000,
    "log_interval": 1000,
    "runner_log_interval": 1000,
    "learner_log_interval": 1000,
    "test_nepisode": 10,
    "checkpoint_interval": 1000,
}


def test_the_slurm_recipe_requeued_at_its_time_limit_resumes_its_run(
    slurm, mongo_url, epymarl_dir, tmp_path
):
    """The recipe's job is told its time limit is near and requeues itself; started
    again, its sweep resumes the stopped run, which ends COMPLETED, once, with every
    logged metric equal (steps and values) to the same run never stopped.

    The time limit is simulated: once the run has written a checkpoint, the test sends
    the batch script the SIGUSR1 that the recipe's `#SBATCH --signal=B:USR1@300` asks
    Slurm to send 300 s before the limit (`scancel --batch --signal=USR1`). A real limit
    is at least a minute, Slurm sends such a signal up to a minute late, and the job's
    Ray start alone takes 40 s: a tiny run cannot be made to meet a real one reliably.
    Everything after the signal (the trap, the run's checkpoint, `scontrol requeue`,
    the job's second start, the resume) is Slurm's and the recipe's own."""
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    spec = {
        "configs": ["mappo_midsn"],  # SN: its u/v are in the checkpoint
        "env_configs": [{"env_config": "gymma", "with": {}}],
        "seeds": [5],
        "t_max": T_MAX,
        "with": RUN_WITH,
    }
    spec_path = write_spec(tmp_path / "requeue.yaml", spec)
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-"))
    db = "slurm_requeue"
    env = recipe_env(slurm, spec_path, checkout, mongo_url, db, ray_dir)
    out = tmp_path / "job.out"
    sacred = checkout / "results" / "sacred"
    job = submit(env, out, tmp_path)
    try:
        deadline = time.monotonic() + 600
        while not list(sacred.rglob("checkpoint/meta.json")):
            assert job_state(slurm, job) in ("PENDING", "CONFIGURING", "RUNNING"), (
                out.read_text() if out.exists() else "no output"
            )
            assert time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.2)
        subprocess.run(["scancel", "--batch", "--signal=USR1", job], env=slurm, check=True)
        state = wait_for_end(slurm, job, out)
        log = out.read_text() if out.exists() else ""
        assert state == "COMPLETED", f"{state}\n{log[-3000:]}"
        shown = subprocess.run(
            ["scontrol", "show", "job", job], capture_output=True, text=True, env=slurm
        ).stdout
        assert "Restarts=1" in shown, shown
        assert f"job {job} is near its time limit" in log, log[-3000:]
        assert f"job {job} starts (restart count 1)" in log, log[-3000:]
        assert "1 COMPLETED, 0 FAILED" in log, log[-3000:]

        (run_json,) = sacred.rglob("run.json")  # one run, not a second one
        run_dir = run_json.parent
        record = json.loads(run_json.read_text())
        assert record["status"] == "COMPLETED"
        (resumed,) = record["resumed"]
        assert 0 < resumed["t_env"] < T_MAX
        logs = "".join(p.read_text() for p in (checkout / "results" / "sweep_logs").rglob("*.log"))
        assert f"resuming {run_dir} from its checkpoint at t_env {resumed['t_env']}" in logs

        client = pymongo.MongoClient(mongo_url)
        try:
            runs = list(client[db].runs.find({}, {"status": 1}))
        finally:
            client.close()
        assert [r["status"] for r in runs] == ["COMPLETED"]
        assert running_in(checkout) == [] and processes_of(ray_dir) == []
    finally:
        clean_up(slurm, job, ray_dir, checkout)

    # the same run, never stopped: `python src/main.py` as the sweep runs it
    never_stopped = copy_checkout(epymarl_dir, tmp_path / "never_stopped")
    args = [f"{k}={v}" for k, v in {**RUN_WITH, "t_max": T_MAX, "seed": 5}.items()]
    main = [sys.executable, "src/main.py", "--config=mappo_midsn", "--env-config=gymma"]
    ran = subprocess.run(
        [*main, "with", *args],
        cwd=never_stopped,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    (other,) = (never_stopped / "results" / "sacred").rglob("metrics.json")
    assert points(run_dir / "metrics.json") == points(other)


def points(metrics):
    """Every logged metric in a metrics.json: name -> (steps, values)."""
    return {k: (m["steps"], m["values"]) for k, m in json.loads(metrics.read_text()).items()}
