"""Plain helpers of the tests (importable as `helpers`: pytest puts tests/, the directory
of the top conftest.py, on sys.path). Fixtures stay in the conftest files only where
they manage a resource (a checkout, a server, a process)."""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Union

import pymongo
import torch
import yaml

from epymarl_sn.board.local_server import LocalServer
from epymarl_sn.resources import main_config
from epymarl_sn.tracking.store import open_store


def top_sigma(weight: torch.Tensor) -> float:
    """A matrix's largest singular value, computed by torch.linalg (not by the plugin)."""
    return torch.linalg.matrix_norm(weight.detach(), ord=2).item()


def applied_weight(layer: torch.nn.Linear) -> torch.Tensor:
    """The weight matrix a linear layer's forward applies, read off its outputs (the rows
    of the identity in, the bias taken away) rather than from the layer's own helpers.
    In eval mode, so an SNLinear takes no power-iteration step."""
    was_training = layer.training
    layer.eval()
    with torch.no_grad():
        eye = torch.eye(layer.in_features, dtype=layer.weight.dtype)
        out = layer(eye) - layer(torch.zeros_like(eye[:1]))
    layer.train(was_training)
    return out.t()


# ----- EPyMARL in process (the SN tests; EPyMARL's src/ on sys.path: epymarl_src) ------

N_AGENTS, N_ACTIONS, STATE_DIM, OBS_DIM, EPISODE_LEN = 2, 5, 30, 15, 12


def old_sn_layout(state: dict) -> dict:
    """A critic's state_dict as the SN layer before torch's parametrization saved it: an
    SN layer's raw weight as `<layer>.weight`, its u and v as `<layer>.u`, `<layer>.v`."""
    names = {
        ".parametrizations.weight.original": ".weight",
        ".parametrizations.weight.0._u": ".u",
        ".parametrizations.weight.0._v": ".v",
    }
    renamed = {}
    for key, value in state.items():
        for new, old in names.items():
            if key.endswith(new):
                key = key[: -len(new)] + old
        renamed[key] = value
    return renamed


def preset_args(src: Path, preset: str, **overrides: Any) -> SimpleNamespace:
    """The args EPyMARL's run() would build from default.yaml, gymma.yaml and a preset,
    for N_AGENTS agents with N_ACTIONS actions."""
    config = main_config(src.parent, "gymma", preset)
    config.update(
        n_agents=N_AGENTS, n_actions=N_ACTIONS, state_shape=STATE_DIM, use_cuda=False, device="cpu"
    )
    config.update(overrides)
    return SimpleNamespace(**config)


def random_batch(args: SimpleNamespace, batch_size: int = 4, seed: int = 0) -> Any:
    """An EpisodeBatch with run.py's scheme, filled with random transitions."""
    from components.episode_buffer import EpisodeBatch
    from components.transforms import OneHot

    scheme = {
        "state": {"vshape": STATE_DIM},
        "obs": {"vshape": OBS_DIM, "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (N_ACTIONS,), "group": "agents", "dtype": torch.int},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "reward": {"vshape": (1,)},
    }
    groups = {"agents": args.n_agents}
    preprocess = {"actions": ("actions_onehot", [OneHot(out_dim=N_ACTIONS)])}
    steps = EPISODE_LEN + 1
    batch = EpisodeBatch(scheme, groups, batch_size, steps, preprocess=preprocess)
    g = torch.Generator().manual_seed(seed)
    terminated = torch.zeros(batch_size, steps, 1, dtype=torch.uint8)
    terminated[:, EPISODE_LEN - 1] = 1
    batch.update(
        {
            "state": torch.randn(batch_size, steps, STATE_DIM, generator=g),
            "obs": torch.randn(batch_size, steps, N_AGENTS, OBS_DIM, generator=g),
            "actions": torch.randint(0, N_ACTIONS, (batch_size, steps, N_AGENTS, 1), generator=g),
            "avail_actions": torch.ones(batch_size, steps, N_AGENTS, N_ACTIONS, dtype=torch.int),
            "reward": torch.rand(batch_size, steps, 1, generator=g),
            "terminated": terminated,
        }
    )
    return batch


# ----- `src/main.py` runs ------------------------------------------------------------

# records every batch a `src/main.py` run's runner returns (the runner tests)
RECORDER = Path(__file__).parent / "runners" / "record_episodes.py"

# A few thousand steps of RWARE tiny-2ag with logging often enough to see metrics.
RWARE_TINY_KEY = "rware:rware-tiny-2ag-v2"
RWARE_TINY_ENV = (
    "--env-config=gymma",
    "with",
    f"env_args.key={RWARE_TINY_KEY}",
    "env_args.time_limit=100",
)
LOG_EVERY_1000 = (
    "test_interval=1000",
    "log_interval=1000",
    "runner_log_interval=1000",
    "learner_log_interval=1000",
)
RWARE_TINY = (*RWARE_TINY_ENV, "t_max=2000", "test_nepisode=10", *LOG_EVERY_1000)

# SMAClite's 12 maps; tests/batched/test_smaclite_batch.py checks them against SMAClite's
# own MapPreset (smaclite is installed by the epymarl_dir fixture, after collection)
SMACLITE_MAPS = (
    "2s3z",
    "3s5z",
    "3s5z_vs_3s6z",
    "10m_vs_11m",
    "27m_vs_30m",
    "3s_vs_5z",
    "2s_vs_1sc",
    "corridor",
    "bane_vs_bane",
    "2c_vs_64zg",
    "MMM",
    "MMM2",
)

# The paper's sparse reward (§VI-B) as the presets hold it, scaled as the authors'
# sc2_sparse.yaml scales it.
PAPER_SPARSE_REWARD = {
    "reward_death_value": 10,
    "reward_ally_death_value": 10,
    "reward_win": 200,
    "reward_defeat": -200,
    "reward_scale": True,
    "reward_scale_rate": 50,
    "reward_scale_divisor": "smac",
}


@dataclass
class SacredRun:
    """One run of Sacred's FileStorageObserver, read from its directory."""

    path: Path
    run: dict
    config: dict
    metrics: dict

    @classmethod
    def read(cls, path: Path) -> "SacredRun":
        def load(name):
            f = path / name
            return json.loads(f.read_text()) if f.is_file() else {}

        return cls(path, load("run.json"), load("config.json"), load("metrics.json"))


@dataclass
class MainResult:
    proc: subprocess.CompletedProcess
    runs: list

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr


def read_runs(results: Path) -> "list[SacredRun]":
    sacred = results / "sacred"
    return [SacredRun.read(p.parent) for p in sorted(sacred.rglob("run.json"))]


def copy_checkout(epymarl_dir: Path, dest: Path) -> Path:
    """A private checkout (src/ only: runs and sweeps write results/ next to it)."""
    shutil.copytree(epymarl_dir / "src", dest / "src")
    return dest


def stored_runs(checkout: Union[str, Path]) -> list:
    """The runs in the checkout's file storage, through run_store."""
    root = Path(checkout) / "results" / "sacred"
    return open_store(root).runs() if root.is_dir() else []


def run_dirs(checkout: Union[str, Path]) -> "list[Path]":
    """The run directories of the checkout's file storage."""
    return sorted(p.parent for p in (Path(checkout) / "results" / "sacred").rglob("run.json"))


# ----- the `epymarl-sn` command line -------------------------------------------------


def cli_env(extra: Optional[dict] = None) -> dict:
    """This environment without SACRED_MONGO_* (a run stores where a test says), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SACRED_MONGO")}
    return {**env, **(extra or {})}


def run_cli(*args: Any, timeout: float = 600, env: Optional[dict] = None):
    """Run the real `epymarl-sn` command line -> its CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "epymarl_sn", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(env),
    )


def start_cli(*args: Any, env: Optional[dict] = None) -> subprocess.Popen:
    """Start the real `epymarl-sn` command line and return at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "epymarl_sn", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
    )


# ----- a real tiny sweep (the sweep and plot tests) ------------------------------------

VARIANTS = ["mappo_paper", "mappo_sn"]
SEEDS = [1, 2]
TASK = RWARE_TINY_KEY
# a variant whose runs fail while training starts: its env (tests/sweep/hanging_env.py,
# on PYTHONPATH: SWEEP_TEST_ENV) raises when made; a bad config value would be refused
# before any run, by the sweep's own checks
FAILING_TASK = "hanging_env:fail-tiny-2ag-v0"
BROKEN = {
    "config": "mappo_paper",
    "with": {
        "name": "broken",
        "env_args.key": FAILING_TASK,
        "runner": "episode",  # made in the training process
        "batch_size_run": 1,
    },
}
SWEEP_TEST_ENV = {
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).parent / "sweep"), os.environ.get("PYTHONPATH")])
    )
}


def tiny_spec(configs: list = VARIANTS, seeds: list = SEEDS, **extra: Any) -> dict:
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


def write_spec(path: Path, spec: dict) -> Path:
    """The spec written as YAML at `path`."""
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@dataclass
class SweepResult:
    checkout: Path
    spec: Path
    good_spec: Path  # the same grid without the broken variant
    proc: subprocess.CompletedProcess
    variants: list = field(default_factory=lambda: list(VARIANTS))
    seeds: list = field(default_factory=lambda: list(SEEDS))
    task: str = TASK


# ----- processes ---------------------------------------------------------------------


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """check()'s first true value, polled every 0.2 s; fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def alive(pid: int) -> bool:
    """Whether process `pid` still runs: in /proc and not a zombie (a zombie has ended
    and waits for its parent; a container's PID 1 need not reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def processes() -> "dict[int, tuple[int, str, Optional[str]]]":
    """{pid: (session id, comm, cwd or None)} of every live process we may read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            try:
                cwd: Optional[str] = os.readlink(entry / "cwd")
            except OSError:
                cwd = None
            if fields[0] != "Z":  # a zombie is gone already, waiting for its parent
                found[int(entry.name)] = (int(fields[3]), comm, cwd)
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return found


def running_in(directory: Union[str, Path]) -> "list[int]":
    """PIDs of the processes whose working directory is in `directory`: a run's
    main.py and its env workers run in their checkout."""
    directory = str(directory)
    return [
        pid
        for pid, (_, _, cwd) in processes().items()
        if cwd and (cwd == directory or cwd.startswith(directory + os.sep))
    ]


# A real MongoDB-compatible server: SecantusDB (`secantusd-py`, a MongoDB wire-protocol
# server on WiredTiger) on a free 127.0.0.1 port, stopped by its own PID
class MongoServer(LocalServer):
    """A LocalServer that tests crash and bring back on the same storage."""

    def client(self, url=None):
        return pymongo.MongoClient(url or self.url, serverSelectionTimeoutMS=5000)

    def db(self, name="epymarl"):
        return self.client()[name]

    def restart(self):
        """SIGKILL (a crash, no clean shutdown), then a new server on the same data."""
        self.kill()
        self.start()

    def add_user(self, user, password, db_name="epymarl"):
        """A user who may read and write `db_name` only; then restart with --auth."""
        self.client().admin.command(
            "createUser", user, pwd=password, roles=[{"role": "readWrite", "db": db_name}]
        )
        self.stop()
        self.args.append("--auth")
        self.start()

    def auth_url(self, user, password):
        return f"mongodb://{user}:{password}@127.0.0.1:{self.port}/?authSource=admin"
