"""Shared fixtures: a real patched EPyMARL checkout, real `src/main.py` runs and a real
tiny sweep. Plain helpers and constants: helpers.py.

The checkout comes from `epymarl-sn setup` (from its cache when offline). If it
cannot be made, every test that needs it errors: nothing is skipped.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from epymarl_sn.install.bootstrap import setup
from epymarl_sn.install.packages import ensure_torch

# pytest started in the background by a script (`cmd &`, nohup) inherits SIGINT ignored,
# and so would every program it starts; the tests that stop one with Ctrl-C need it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# PyTorch, installed as `epymarl-sn setup` installs it (EPYMARL_SN_TORCH) when the venv
# lacks it, so that the README's test command needs nothing but python and pip. At
# import: pytest imports this file before the conftest files and test modules that import
# torch (under -n N, first in the process that starts the workers).
ensure_torch(log=lambda msg: print(f"setup: {msg}", file=sys.stderr))

# the plain helpers (helpers.py) import torch: after ensure_torch
from helpers import (  # noqa: E402
    BROKEN,
    SWEEP_TEST_ENV,
    VARIANTS,
    MainResult,
    MongoServer,
    SweepResult,
    copy_checkout,
    read_runs,
    run_cli,
    tiny_spec,
    write_spec,
)


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


@pytest.fixture(scope="session")
def tiny_sweep(epymarl_dir, tmp_path_factory):
    """A real sweep, run once per session for the sweep and plot tests: 2 variants x
    RWARE tiny-2ag x 2 seeds on 2 local workers, plus one variant whose runs fail: its
    env raises when made (tests/sweep/hanging_env.py)."""
    root = tmp_path_factory.mktemp("tiny_sweep")
    checkout = copy_checkout(epymarl_dir, root / "epymarl")
    spec = write_spec(root / "tiny.yaml", tiny_spec(VARIANTS + [BROKEN]))
    good = write_spec(root / "tiny_good.yaml", tiny_spec())
    proc = run_cli(
        "sweep", spec, "--epymarl", checkout, "--workers", 2, "--retries", 1, env=SWEEP_TEST_ENV
    )
    return SweepResult(checkout, spec, good, proc)


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure here: what it needs must be installed, not assumed."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        print(
            f"\nerror: {len(skipped)} test(s) skipped; a skip counts as a failure", file=sys.stderr
        )
        session.exitstatus = 1


@pytest.fixture
def mongo_server(tmp_path):
    """A fresh real server; `.url`, `.db()`, `.kill()`, `.start()`, `.restart()`."""
    server = MongoServer(tmp_path / "mongo-data", args=["--enable-test-commands"])
    server.start()
    yield server
    server.stop()
