"""Fixtures of the runner tests: real `src/main.py` runs whose episodes are recorded."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from helpers import RECORDER, copy_checkout


@dataclass
class RecordedRun:
    proc: subprocess.CompletedProcess
    run: dict  # Sacred's run.json
    metrics: dict  # Sacred's metrics.json
    batches: list  # per runner.run() call: {"test_mode": bool, key: tensor, ...}
    env_pids: list  # the runner's env processes

    @property
    def output(self):
        return self.proc.stdout + self.proc.stderr


def _record(epymarl_dir, work, args, timeout):
    copy_checkout(epymarl_dir, work)
    out = work / "episodes.pt"
    proc = subprocess.run(
        [sys.executable, str(RECORDER), str(out), "src/main.py", *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
    )
    runs = sorted((work / "results" / "sacred").rglob("run.json"))
    run = json.loads(runs[0].read_text()) if runs else None
    metrics = json.loads((runs[0].parent / "metrics.json").read_text()) if runs else None
    pids = Path(f"{out}.pids.json")
    return RecordedRun(
        proc,
        run,
        metrics,
        torch.load(out) if out.is_file() else None,
        json.loads(pids.read_text()) if pids.is_file() else None,
    )


@pytest.fixture(scope="module")
def record_main(epymarl_dir, tmp_path_factory):
    """record_main(*args) -> RecordedRun: `python src/main.py ARGS` in a private checkout
    (copy_checkout), through record_episodes.py; fails unless the run completed."""

    def record(*args, timeout=900):
        result = _record(epymarl_dir, tmp_path_factory.mktemp("run"), args, timeout)
        assert result.proc.returncode == 0 and result.batches is not None, result.output[-3000:]
        return result

    return record


@pytest.fixture
def try_main(epymarl_dir, tmp_path):
    """try_main(*args) -> RecordedRun, of a run that may fail (run, metrics, batches
    and env_pids None where it never got there)."""

    def record(*args, timeout=900):
        return _record(epymarl_dir, tmp_path / "run", args, timeout)

    return record


@pytest.fixture
def checkout_copy(epymarl_dir, tmp_path):
    """A private checkout (copy_checkout) in tmp_path."""
    return copy_checkout(epymarl_dir, tmp_path)
