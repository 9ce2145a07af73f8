"""docs/slurm_ray_sweep.sbatch, the README's Slurm recipe, submitted to a real Slurm:
a single-node cluster of Debian's slurm-wlm 22.05 (slurmctld and slurmd on 127.0.0.1,
authenticated by munge), started here and stopped by PID. The job starts Ray on its
node and runs a tiny sweep into a real MongoDB; every run must be COMPLETED there once.

Needs root (munged runs as the munge user, Slurm as root) and the Debian packages
slurm-wlm and munge (`.ci/run` installs them when missing)."""

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

from helpers import copy_checkout, running_in, tiny_spec, write_spec

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


def test_the_slurm_recipe_runs_a_sweep_on_ray_into_mongodb(slurm, mongo_url, epymarl_dir, tmp_path):
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    spec = write_spec(tmp_path / "tiny.yaml", tiny_spec(seeds=[1]))
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-"))  # Ray's sockets need a short path
    db = "slurm_recipe"
    env = {
        **slurm,
        # the recipe's SET values, from the environment sbatch passes on
        "SPEC": str(spec),
        "VENV": sys.prefix,
        "EPYMARL": str(checkout),
        "SACRED_MONGO_URL": mongo_url,
        "SACRED_MONGO_DB": db,
        "RAY_PORT": str(free_port()),
        "RAY_TMPDIR": str(ray_dir),
    }
    out = tmp_path / "job.out"
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
        cwd=tmp_path,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 900
        while (state := job_state(slurm, job)) in (
            "PENDING",
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
        ):
            assert time.monotonic() < deadline, out.read_text() if out.exists() else state
            time.sleep(2)
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
        subprocess.run(["scancel", job], env=slurm, check=False)
        for pid in processes_of(ray_dir) + running_in(checkout):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(ray_dir, ignore_errors=True)
