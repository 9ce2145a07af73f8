"""Shared fixtures: a real patched EPyMARL checkout and real `src/main.py` runs.

The checkout comes from `epymarl-sn setup` (from its cache when offline). If it
cannot be made, every test that needs it errors: nothing is skipped.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from epymarl_sn.install.bootstrap import setup
from epymarl_sn.install.packages import ensure_torch
from epymarl_sn.tracking.store import open_store

# pytest started in the background by a script (`cmd &`, nohup) inherits SIGINT ignored,
# and so would every program it starts; the tests that stop one with Ctrl-C need it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# PyTorch, installed as `epymarl-sn setup` installs it (EPYMARL_SN_TORCH) when the venv
# lacks it, so that the README's test command needs nothing but python and pip. At
# import: pytest imports this file before the conftest files and test modules that import
# torch (under -n N, first in the process that starts the workers).
ensure_torch(log=lambda msg: print(f"setup: {msg}", file=sys.stderr))

# A few thousand steps of RWARE tiny-2ag with logging often enough to see metrics.
RWARE_TINY = (
    "--env-config=gymma",
    "with",
    "env_args.key=rware:rware-tiny-2ag-v2",
    "env_args.time_limit=100",
    "t_max=2000",
    "test_interval=1000",
    "test_nepisode=10",
    "log_interval=1000",
    "runner_log_interval=1000",
    "learner_log_interval=1000",
)


@pytest.fixture(scope="session")
def rware_tiny():
    """`src/main.py` arguments of a few thousand steps of RWARE tiny-2ag."""
    return RWARE_TINY


@pytest.fixture(scope="session")
def paper_sparse_reward():
    """The paper's sparse reward (§VI-B) as the presets hold it, scaled as the authors'
    sc2_sparse.yaml scales it."""
    return {
        "reward_death_value": 10,
        "reward_ally_death_value": 10,
        "reward_win": 200,
        "reward_defeat": -200,
        "reward_scale": True,
        "reward_scale_rate": 50,
        "reward_scale_divisor": "smac",
    }


@pytest.fixture(scope="session", autouse=True)
def epymarl_dir(tmp_path_factory):
    """A patched EPyMARL checkout at the pinned commit, made by `epymarl-sn setup`.

    Used by every test: setup also installs SMAC, SMAClite and PyTorch, which tests
    that never touch the checkout still import (a new venv has only `pip install .`).
    With `pytest -n N` every worker makes its own checkout, one worker at a time: their
    setups share the venv and the setup cache."""
    base = tmp_path_factory.getbasetemp()
    with open(base.parent / "epymarl-sn-setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return setup(base / "epymarl", log=lambda msg: print(f"setup: {msg}", file=sys.stderr))


@dataclass
class SacredRun:
    """One run of Sacred's FileStorageObserver, read from its directory."""

    path: Path
    run: dict
    config: dict
    metrics: dict

    @classmethod
    def read(cls, path):
        def load(name):
            f = path / name
            return json.loads(f.read_text()) if f.is_file() else {}

        return cls(path, load("run.json"), load("config.json"), load("metrics.json"))


@dataclass
class MainResult:
    proc: subprocess.CompletedProcess
    runs: list

    @property
    def output(self):
        return self.proc.stdout + self.proc.stderr


def read_runs(results):
    sacred = results / "sacred"
    return [SacredRun.read(p.parent) for p in sorted(sacred.rglob("run.json"))]


@pytest.fixture
def run_main(epymarl_dir, tmp_path):
    """Run `python src/main.py ARGS` on a private copy of the checkout's src/."""
    work = tmp_path / "epymarl"

    def run(*args, env=None, timeout=900):
        if not work.exists():
            shutil.copytree(epymarl_dir / "src", work / "src")
        proc = subprocess.run(
            [sys.executable, "src/main.py", *args],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return MainResult(proc, read_runs(work / "results"))

    return run


@dataclass
class StartedMain:
    proc: subprocess.Popen
    results: Path

    def wait(self, timeout=900):
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return MainResult(
            subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr),
            read_runs(self.results),
        )


@pytest.fixture
def start_main(epymarl_dir, tmp_path):
    """Start `python src/main.py ARGS` on a private copy of the checkout's src/ and
    return at once; `.wait()` gives what run_main gives. Killed if still running at
    the end of the test."""
    work = tmp_path / "epymarl-bg"
    started = []

    def start(*args, env=None):
        if not work.exists():
            shutil.copytree(epymarl_dir / "src", work / "src")
        proc = subprocess.Popen(
            [sys.executable, "src/main.py", *args],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        return StartedMain(proc, work / "results")

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# A real tiny sweep and the tools of the sweep and plot tests.
VARIANTS = ["mappo_paper", "mappo_sn"]
SEEDS = [1, 2]
TASK = "rware:rware-tiny-2ag-v2"
BROKEN = {"config": "mappo_paper", "with": {"name": "broken", "lr": -0.1}}


def _tiny_spec(configs=VARIANTS, seeds=SEEDS, **extra):
    """A spec of ~1000-step RWARE runs that log every 250 steps."""
    return {
        "configs": list(configs),
        "env_configs": [
            {"env_config": "gymma", "with": {"env_args.key": TASK, "env_args.time_limit": 100}}
        ],
        "seeds": list(seeds),
        "t_max": 1000,
        "with": {
            "test_interval": 250,
            "test_nepisode": 2,
            "log_interval": 250,
            "runner_log_interval": 250,
            "learner_log_interval": 250,
            "batch_size_run": 2,
            "buffer_size": 2,
            "batch_size": 2,
        },
        **extra,
    }


def _write_spec(path, spec):
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _copy_checkout(epymarl_dir, dest):
    """A private checkout (src/ only: the sweep writes results/ next to it)."""
    shutil.copytree(epymarl_dir / "src", dest / "src")
    return dest


def _env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SACRED_MONGO")}
    return {**env, **(extra or {})}


def _epymarl_sn(*args, timeout=600, env=None):
    """Run the real `epymarl-sn` command line."""
    return subprocess.run(
        [sys.executable, "-m", "epymarl_sn", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(env),
    )


def _epymarl_sn_background(*args, env=None):
    """Start the real `epymarl-sn` command line and return at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "epymarl_sn", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )


def _stored(checkout):
    """The runs in the checkout's file storage, through run_store."""
    root = Path(checkout) / "results" / "sacred"
    return open_store(root).runs() if root.is_dir() else []


def _run_dirs(checkout):
    return sorted(p.parent for p in (Path(checkout) / "results" / "sacred").rglob("run.json"))


@dataclass
class SweepResult:
    checkout: Path
    spec: Path
    good_spec: Path  # the same grid without the broken variant
    proc: subprocess.CompletedProcess
    variants: list = field(default_factory=lambda: list(VARIANTS))
    seeds: list = field(default_factory=lambda: list(SEEDS))
    task: str = TASK


@pytest.fixture(scope="session")
def tiny_sweep(epymarl_dir, tmp_path_factory):
    """A real sweep, run once per session for the sweep and plot tests: 2 variants x
    RWARE tiny-2ag x 2 seeds on 2 local workers, plus one variant made to fail by a bad
    override (a negative learning rate, which torch's Adam rejects)."""
    root = tmp_path_factory.mktemp("tiny_sweep")
    checkout = _copy_checkout(epymarl_dir, root / "epymarl")
    spec = _write_spec(root / "tiny.yaml", _tiny_spec(VARIANTS + [BROKEN]))
    good = _write_spec(root / "tiny_good.yaml", _tiny_spec())
    proc = _epymarl_sn("sweep", spec, "--epymarl", checkout, "--workers", 2, "--retries", 1)
    return SweepResult(checkout, spec, good, proc)


@pytest.fixture(scope="session")
def tiny_spec():
    """tiny_spec(configs=..., seeds=..., **extra) -> a spec of ~1000-step RWARE runs."""
    return _tiny_spec


@pytest.fixture(scope="session")
def write_spec():
    """write_spec(path, spec) -> path, the spec written as YAML."""
    return _write_spec


@pytest.fixture(scope="session")
def copy_checkout():
    """copy_checkout(epymarl_dir, dest) -> a private checkout (src/ only)."""
    return _copy_checkout


@pytest.fixture(scope="session")
def epymarl_sn():
    """epymarl_sn(*args, timeout=600, env=None) -> the real command line's CompletedProcess."""
    return _epymarl_sn


@pytest.fixture(scope="session")
def epymarl_sn_background():
    """epymarl_sn_background(*args, env=None) -> the real command line, started (Popen)."""
    return _epymarl_sn_background


@pytest.fixture(scope="session")
def stored():
    """stored(checkout) -> the runs of the checkout's file storage."""
    return _stored


@pytest.fixture(scope="session")
def run_dirs():
    """run_dirs(checkout) -> the run directories of the checkout's file storage."""
    return _run_dirs


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure here: what it needs must be installed, not assumed."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        print(
            f"\nerror: {len(skipped)} test(s) skipped; a skip counts as a failure", file=sys.stderr
        )
        session.exitstatus = 1
