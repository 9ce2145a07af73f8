"""Shared fixtures: a real patched EPyMARL checkout and real `src/main.py` runs.

The checkout comes from `epymarl-sn setup` (from its cache when offline). If it
cannot be made, every test that needs it errors: nothing is skipped.
"""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from epymarl_sn.install.bootstrap import setup

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
def epymarl_dir(tmp_path_factory):
    """A patched EPyMARL checkout at the pinned commit, made by `epymarl-sn setup`."""
    target = tmp_path_factory.getbasetemp() / "epymarl"
    return setup(target, log=lambda msg: print(f"setup: {msg}", file=sys.stderr))


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


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a failure here: what it needs must be installed, not assumed."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        print(f"\nerror: {len(skipped)} test(s) skipped; a skip counts as a failure",
              file=sys.stderr)
        session.exitstatus = 1
