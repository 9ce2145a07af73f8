"""A real tiny sweep shared by the sweep and plot tests: 2 variants x RWARE
tiny-2ag x 2 seeds with 2 local workers, plus one variant made to fail by a bad
override (a negative learning rate, which torch's Adam rejects)."""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from epymarl_sn.tracking.store import open_store

VARIANTS = ["mappo_paper", "mappo_sn"]
SEEDS = [1, 2]
TASK = "rware:rware-tiny-2ag-v2"
BROKEN = {"config": "mappo_paper", "with": {"name": "broken", "lr": -0.1}}


def tiny_spec(configs=VARIANTS, seeds=SEEDS, **extra):
    """A spec of ~1000-step RWARE runs that log every 250 steps."""
    return {
        "configs": list(configs),
        "env_configs": [{"env_config": "gymma",
                         "with": {"env_args.key": TASK, "env_args.time_limit": 100}}],
        "seeds": list(seeds),
        "t_max": 1000,
        "with": {"test_interval": 250, "test_nepisode": 2, "log_interval": 250,
                 "runner_log_interval": 250, "learner_log_interval": 250,
                 "batch_size_run": 2, "buffer_size": 2, "batch_size": 2},
        **extra,
    }


def write_spec(path, spec):
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def copy_checkout(epymarl_dir, dest):
    """A private checkout (src/ only: the sweep writes results/ next to it)."""
    shutil.copytree(epymarl_dir / "src", dest / "src")
    return dest


def _env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SACRED_MONGO")}
    return {**env, **(extra or {})}


def epymarl_sn(*args, timeout=600, env=None):
    """Run the real `epymarl-sn` command line."""
    return subprocess.run([sys.executable, "-m", "epymarl_sn", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=_env(env))


def epymarl_sn_background(*args, env=None):
    """Start the real `epymarl-sn` command line and return at once."""
    return subprocess.Popen([sys.executable, "-m", "epymarl_sn", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(env))


def stored(checkout):
    """The runs in the checkout's file storage, through run_store."""
    root = Path(checkout) / "results" / "sacred"
    return open_store(root).runs() if root.is_dir() else []


def run_dirs(checkout):
    return sorted(p.parent for p in (Path(checkout) / "results" / "sacred").rglob("run.json"))


def metrics_json(run_dir):
    return json.loads((Path(run_dir) / "metrics.json").read_text())


@dataclass
class SweepResult:
    checkout: Path
    spec: Path
    good_spec: Path  # the same grid without the broken variant
    proc: subprocess.CompletedProcess


_cache = {}


def shared_tiny_sweep(epymarl_dir, tmp_path_factory):
    """The sweep, run once per session however many test modules ask for it."""
    if "result" not in _cache:
        root = tmp_path_factory.mktemp("tiny_sweep")
        checkout = copy_checkout(epymarl_dir, root / "epymarl")
        spec = write_spec(root / "tiny.yaml", tiny_spec(VARIANTS + [BROKEN]))
        good = write_spec(root / "tiny_good.yaml", tiny_spec())
        proc = epymarl_sn("sweep", spec, "--epymarl", checkout, "--workers", 2,
                          "--retries", 1)
        _cache["result"] = SweepResult(checkout, spec, good, proc)
    return _cache["result"]
