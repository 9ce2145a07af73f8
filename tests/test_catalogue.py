"""The catalogue of bad inputs and faults: each one ends in a clear line and a non-zero
exit before anything starts (or, for damaged stores, one warning and the work done),
with no traceback and nothing left behind (no RUNNING run, no process, no cut file).

The inputs go to the real programs: EPyMARL's patched `src/main.py` and the
`epymarl-sn` command line, each in a process group of its own, several at a time
(they mostly wait on imports). The faults are real too: runs stopped by SIGTERM,
Ctrl-C, SIGKILL and SIGSTOP, a sweep lock another process holds, real tmpfs mounts that
fill up or turn read-only (at the start or mid-run), FIFOs, a directory closed to the
user `nobody`, and the repository's own compact data pushed to a real MongoDB-compatible
server. docs/robustness.md lists the kinds and what each gets.
"""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pymongo
import pytest
import yaml
from sacred import Experiment
from sacred.observers import FileStorageObserver

import epymarl_sn
from epymarl_sn.board.local_server import LocalServer
from epymarl_sn.sweep.resume import expected_config
from epymarl_sn.sweep.spec import load_spec

from helpers import RWARE_TINY_ENV, alive, copy_checkout

RWARE = ("--env-config=gymma", "with", "env_args.key=rware:rware-tiny-2ag-v2", "t_max=100")
SMACLITE = ("--env-config=smaclite_sparse", "with", "env_args.map_name=2s3z", "t_max=100")
CONCURRENT = 3  # programs at once: each spends most of its time importing


@dataclass(frozen=True)
class Case:
    id: str
    program: str  # "main": python src/main.py ARGS; "cli": epymarl-sn ARGS
    args: tuple
    code: int
    line: str  # regex that the one error line (the last of stderr) must match
    env: dict = field(default_factory=dict)


def main_case(id, config, *args, line, env=None, code=1):
    return Case(id, "main", (f"--config={config}", *args), code, line, env or {})


def cli_case(id, *args, line, code=2, env=None):
    return Case(id, "cli", args, code, line, env or {})


# {world} in an argument is the directory the world fixture prepared
CASES = [
    # config keys (src/main.py; main.py reports a check's error as `error: ...`, status 1)
    main_case(
        "mistyped key",
        "mappo_sn",
        *RWARE,
        "critic_sn_kk=2",
        line=r"^error: critic_sn_kk: not a config key .*did you mean critic_sn_k\b",
    ),
    main_case(
        "mistyped env key",
        "mappo_sn",
        *RWARE,
        "env_args.keyy=x",
        line=r"^error: env_args.keyy: not a config key .*did you mean env_args.key\b",
    ),
    main_case(
        "critic_sn word",
        "mappo_sn",
        *RWARE,
        "critic_sn=middle",
        line=r"^error: critic_sn: 'middle' is not a layer choice; allowed: .*set e.g.",
    ),
    main_case(
        "critic_sn empty list",
        "mappo_sn",
        *RWARE,
        "critic_sn=[]",
        line=r"^error: critic_sn: \[\] selects no layer; .*critic_sn=none",
    ),
    main_case(
        "critic_sn index",
        "mappo_sn",
        *RWARE,
        "critic_sn=[4]",
        line=r"^error: critic_sn: layer index 4 is out of range",
    ),
    main_case(
        "critic_sn_k negative", "mappo_sn", *RWARE, "critic_sn_k=-1", line=r"^error: critic_sn_k: "
    ),
    main_case(
        "critic_layers 1",
        "mappo_sn",
        *RWARE,
        "critic_layers=1",
        line=r"^error: critic_layers: 1 is not allowed",
    ),
    main_case(
        "batch_size_run 0",
        "mappo_sn",
        *RWARE,
        "batch_size_run=0",
        line=r"^error: batch_size_run: 0 is not allowed; allowed: an integer >= 1",
    ),
    main_case(
        "buffer_size text",
        "mappo_sn",
        *RWARE,
        "buffer_size=lots",
        line=r"^error: buffer_size: 'lots' is not allowed",
    ),
    main_case(
        "vector_workers",
        "mappo_sn",
        *RWARE,
        "vector_workers=-1",
        line=r"^error: vector_workers: -1 is not allowed",
    ),
    main_case(
        "checkpoint_interval",
        "mappo_sn",
        *RWARE,
        "checkpoint_interval=-5",
        line=r"^error: checkpoint_interval: -5 is not allowed; allowed: an integer >= 0",
    ),
    main_case(
        "resume from no checkpoint",
        "mappo_sn",
        *RWARE,
        env={"EPYMARL_SN_RESUME": "/nonexistent/checkpoint"},
        line=r"^error: no checkpoint at /nonexistent/checkpoint$",
    ),
    main_case(
        "unknown preset",
        "mappo_snn",
        *RWARE,
        line=r"^error: unknown --config 'mappo_snn'. Available: .*mappo_sn",
    ),
    # env keys
    main_case(
        "unknown map",
        "mappo_sn",
        "--env-config=smaclite_sparse",
        "with",
        "env_args.map_name=2s4z",
        "t_max=100",
        line=r"^error: .*2s4z.*2s3z",
    ),
    main_case(
        "reward type",
        "mappo_sn",
        *SMACLITE,
        "env_args.reward_win=lots",
        line=r"^error: .*reward_win",
    ),
    main_case(
        "authors' reward_death",
        "mappo_sn",
        *SMACLITE,
        "env_args.reward_death=True",
        line=r"^error: env_args.reward_death is not an option.*reward_death_value",
    ),
    main_case(
        "no StarCraft II",
        "mappo_sn",
        "--env-config=sc2_sparse",
        "with",
        "env_args.map_name=corridor",
        "t_max=100",
        env={"SC2PATH": "{world}/no-sc2"},
        line=r"^error: .*StarCraft ?II",
    ),
    # URLs
    main_case(
        "run's malformed URL",
        "mappo_sn",
        *RWARE,
        env={"SACRED_MONGO_URL": "mongodb://:::"},
        line=r"^error: SACRED_MONGO_URL is not a valid MongoDB URL",
    ),
    main_case(
        "run's MongoDB down",
        "mappo_sn",
        *RWARE,
        env={"SACRED_MONGO_URL": "mongodb://127.0.0.1:9"},
        line=r"^error: MongoDB at 127.0.0.1:9 did not answer",
    ),
    cli_case(
        "push malformed --to",
        "runs",
        "push",
        "--store",
        "{world}/good",
        "--to",
        "mongodb://:::",
        line=r"--to is not a valid MongoDB URL",
    ),
    cli_case(
        "push --to not mongodb",
        "runs",
        "push",
        "--store",
        "{world}/good",
        "--to",
        "http://127.0.0.1",
        line=r"--to takes a mongodb:// URL",
    ),
    cli_case(
        "push without a MongoDB",
        "runs",
        "push",
        "--store",
        "{world}/good",
        line=r"runs push needs a MongoDB",
    ),
    cli_case(
        "push --to down",
        "runs",
        "push",
        "--store",
        "{world}/good",
        "--to",
        "mongodb://127.0.0.1:9",
        line=r"MongoDB at 127.0.0.1:9 did not answer",
        code=2,
    ),
    cli_case(
        "board malformed --mongo",
        "board",
        "--mongo",
        "mongodb://:::",
        line=r"--mongo is not a valid MongoDB URL",
    ),
    cli_case(
        "board malformed env URL",
        "board",
        env={"SACRED_MONGO_URL": "mongodb://:::"},
        line=r"SACRED_MONGO_URL is not a valid MongoDB URL",
    ),
    cli_case(
        "board port",
        "board",
        "--store",
        "{world}/good",
        "--port",
        "0",
        line=r"--port 0 is not a TCP port",
    ),
    cli_case(
        "runs malformed --store URL",
        "runs",
        "--store",
        "mongodb://:::",
        line=r"not a valid MongoDB URL",
    ),
    # stores and filters
    cli_case("runs no store", "runs", "--store", "{world}/nowhere", line=r"no run directory"),
    cli_case(
        "runs bad filter",
        "runs",
        "--store",
        "{world}/good",
        "seed",
        line=r"filter 'seed' is not KEY=VALUE",
    ),
    cli_case(
        "runs csv without metrics",
        "runs",
        "--store",
        "{world}/good",
        "--export-csv",
        "{world}/x.csv",
        line=r"--export-csv FILE and --metrics M,... go together",
    ),
    # sweep specs
    cli_case(
        "spec YAML error",
        "sweep",
        "{world}/broken.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=r"broken.yaml is not valid YAML at line 2, column \d+: ",
    ),
    cli_case(
        "spec missing",
        "sweep",
        "{world}/none.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=r"no sweep spec .*none.yaml",
    ),
    cli_case(
        "spec unknown config",
        "sweep",
        "{world}/unknown.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=r"unknown config 'mappo_nope'",
    ),
    cli_case(
        "spec seeds",
        "sweep",
        "{world}/seeds.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=r"`seeds` must be a non-empty list of integers",
    ),
    cli_case(
        "spec unknown key",
        "sweep",
        "{world}/key.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=r"unknown key\(s\) seed; allowed: configs",
    ),
    cli_case(
        "sweep not a checkout",
        "sweep",
        "{world}/good.yaml",
        "--epymarl",
        "{world}/nowhere",
        "--dry-run",
        line=r"is not a patched EPyMARL checkout",
    ),
    cli_case(
        "sweep workers 0",
        "sweep",
        "{world}/good.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--workers",
        "0",
        "--dry-run",
        line=r"--workers must be at least 1",
    ),
    # plot arguments
    cli_case(
        "plot no metric",
        "plot",
        "--store",
        "{world}/good",
        "--out",
        "{world}/fig",
        line=r"give --metric M",
    ),
    cli_case(
        "plot preset",
        "plot",
        "--store",
        "{world}/good",
        "--out",
        "{world}/fig",
        "--preset",
        "fig9",
        line=r"argument --preset: invalid choice: 'fig9'",
    ),
    cli_case(
        "plot reps",
        "plot",
        "--store",
        "{world}/good",
        "--out",
        "{world}/fig",
        "--metric",
        "return_mean",
        "--reps",
        "0",
        line=r"--reps must be at least 1",
    ),
    cli_case(
        "plot unknown metric",
        "plot",
        "--store",
        "{world}/good",
        "--out",
        "{world}/fig",
        "--metric",
        "nosuch",
        line=r"no selected run logged metric 'nosuch'",
    ),
    cli_case(
        "plot no match",
        "plot",
        "--store",
        "{world}/good",
        "--out",
        "{world}/fig",
        "--metric",
        "return_mean",
        "seed=9",
        line=r"no run in .* matches",
    ),
    # setup targets
    cli_case(
        "setup a file",
        "setup",
        "{world}/good.yaml",
        line=r"is not an EPyMARL checkout \(no src/main.py\)",
        code=1,
    ),
    cli_case(
        "setup other dir",
        "setup",
        "{world}/other",
        line=r"is not an EPyMARL checkout \(no src/main.py\)",
        code=1,
    ),
    cli_case(
        "setup foreign main.py",
        "setup",
        "{world}/foreign",
        line=r"conflict with the plugin patch; restore it \(EPyMARL's own",
        code=1,
    ),
]

# kind 1: EPyMARL's own keys that the presets set (epymarl_config.EpymarlKeys, GymmaArgs),
# and the command's YAML files, checked before training
CASES += [
    main_case(
        f"EPyMARL key {key}={value}",
        "mappo_sn",
        *RWARE,
        f"{key}={value}",
        line=rf"^error: {re.escape(key)}: {re.escape(shown)} is not allowed; allowed: "
        rf"{allowed}.*; set e.g. {re.escape(key)}=",
    )
    for key, value, shown, allowed in [
        ("hidden_dim", "0", "0", "an integer >= 1"),
        ("hidden_dim", "1.5", "1.5", "an integer >= 1"),
        ("lr", "-1", "-1", "a finite number > 0"),
        ("lr", "0", "0", "a finite number > 0"),
        ("seed", "-1", "-1", "an integer from 0 to 2\\*\\*32 - 1"),
        ("t_max", "0", "0", "an integer >= 1"),
        ("t_max", "-5", "-5", "an integer >= 1"),
        ("q_nstep", "0", "0", "an integer >= 1"),
        ("epochs", "0", "0", "an integer >= 1"),
        ("batch_size", "0", "0", "an integer >= 1"),
        ("test_nepisode", "0", "0", "an integer >= 1"),
        ("test_interval", "0", "0", "an integer >= 1"),
        ("save_model_interval", "-1", "-1", "an integer >= 1"),
        ("gamma", "2", "2", "a number from 0 to 1"),
        ("eps_clip", "0", "0", "a finite number > 0"),
        ("entropy_coef", "-0.1", "-0.1", "a finite number >= 0"),
        ("grad_norm_clip", "0", "0", "a finite number > 0"),
        ("target_update_interval_or_tau", "0", "0", "a number from 0 to 1"),
        ("use_rnn", "yes", "'yes'", "True or False"),
        ("standardise_rewards", "1", "1", "True or False"),
        ("env_args.time_limit", "0", "0", "an integer >= 1"),
        ("env_args.time_limit", "ten", "'ten'", "an integer >= 1"),
        ("env_args.pretrained_wrapper", "3", "3", "null or the name of a wrapper"),
        ("log_interval", "0", "0", "an integer >= 1"),
        ("learner_log_interval", "0", "0", "an integer >= 1"),
        ("obs_agent_id", "2", "2", "True or False"),
        ("common_reward", "maybe", "'maybe'", "True or False"),
    ]
]
CASES += [
    main_case(
        "RWARE key not registered",
        "mappo_sn",
        "--env-config=gymma",
        "with",
        "env_args.key=rware:rware-tiny-3ag-v9",
        "t_max=100",
        line=r"^error: env_args.key: 'rware:rware-tiny-3ag-v9' is not a registered gymnasium "
        r"env; did you mean rware:rware-tiny-3ag-v2\b",
    ),
    main_case(
        "gym key module missing",
        "mappo_sn",
        "--env-config=gymma",
        "with",
        "env_args.key=nosuchmodule:thing-v0",
        "t_max=100",
        line=r"^error: env_args.key: 'nosuchmodule:thing-v0' names the module 'nosuchmodule', "
        r"which cannot be imported",
    ),
    main_case(
        "gym key missing",
        "mappo_sn",
        "--env-config=gymma",
        "with",
        "t_max=100",
        line=r"^error: env_args.key: None is not allowed; allowed: a registered gymnasium env",
    ),
    main_case(
        "alg config YAML error",
        "broken_alg",
        *RWARE,
        line=r"^error: \S+broken_alg.yaml is not valid YAML at line 2, column \d+: ",
    ),
    main_case(
        "alg config a list",
        "list_alg",
        *RWARE,
        line=r"^error: \S+list_alg.yaml holds a YAML list, not a mapping of config keys",
    ),
    main_case(
        "env config YAML error",
        "mappo_sn",
        "--env-config=broken_env",
        "with",
        "t_max=100",
        line=r"^error: \S+broken_env.yaml is not valid YAML at line \d+, column \d+: ",
    ),
    main_case(
        "with file YAML error",
        "mappo_sn",
        *RWARE,
        "{world}/broken.yaml",
        line=r"^error: \S+broken.yaml is not valid YAML at line 2, column \d+: ",
    ),
    main_case(
        "with file a list",
        "mappo_sn",
        *RWARE,
        "{world}/list.yaml",
        line=r"^error: \S+list.yaml holds a YAML list, not a mapping",
    ),
    main_case(
        "with file missing",
        "mappo_sn",
        *RWARE,
        "{world}/none.yaml",
        line=r"^error: cannot read the config file \S+none.yaml \(No such file or directory\)",
    ),
    main_case(
        "with a bare word",
        "mappo_sn",
        *RWARE,
        "fast",
        line=r"^error: with fast: neither KEY=VALUE nor a config file",
    ),
    main_case(
        "with file bad value",
        "mappo_sn",
        *RWARE,
        "{world}/bad_value.yaml",
        line=r"^error: hidden_dim: 0 is not allowed",
    ),
]

# kind 2: sweep specs refused up front (seeds, data_dir, each run's resolved config)
CASES += [
    cli_case(
        f"spec {name}",
        "sweep",
        f"{{world}}/{name}.yaml",
        "--epymarl",
        "{world}/epymarl",
        "--dry-run",
        line=line,
    )
    for name, line in [
        ("negative_seed", r"`seeds` must be a non-empty list of integers from 0 to 2\*\*32 - 1"),
        ("huge_seed", r"`seeds` must be a non-empty list of integers from 0 to 2\*\*32 - 1"),
        ("data_file", r"data_dir good.yaml is a file, not a directory"),
        (
            "override_unknown",
            r"run `python src/main.py .*`: hidden_dimm: not a config key of this run; "
            r"did you mean hidden_dim\b",
        ),
        ("override_bad", r"run `python src/main.py .*`: hidden_dim: 0 is not allowed"),
        ("override_key", r"env_args.key: 'rware:nope-v1' is not a registered gymnasium env"),
        ("broken_alg", r"broken_alg.yaml is not valid YAML at line 2"),
        ("t_max_zero", r"`t_max` must be a positive integer"),
    ]
]
CASES += [
    cli_case(
        "sweep while another runs",
        "sweep",
        "{world}/good.yaml",
        "--epymarl",
        "{world}/epymarl",
        line=r"error: sweep /\S+/other.yaml \(PID \d+, since .*\) is running on \S+epymarl: "
        r"one sweep at a time on a checkout",
    ),
]

# kind 4: readers of a store, given an id no store could hold
CASES += [
    cli_case(
        "runs show a very long id",
        "runs",
        "show",
        "x" * 5000,
        "--store",
        "{world}/good",
        line=r"no run 'x+' in \S+good \(2 runs there",
    ),
]

# kind 6: environment variables, checked where they are read, named in the one line
CASES += [
    main_case(
        "final wait not a number, no MongoDB",
        "mappo_sn",
        *RWARE,
        "hidden_dim=0",  # the run got as far as its checks: the plugin was imported
        env={"EPYMARL_SN_MONGO_FINAL_WAIT_S": "abc"},
        line=r"^error: hidden_dim: 0 is not allowed",
    ),
    main_case(
        "final wait not a number",
        "mappo_sn",
        *RWARE,
        env={"EPYMARL_SN_MONGO_FINAL_WAIT_S": "abc", "SACRED_MONGO_URL": "mongodb://127.0.0.1:9"},
        line=r"^error: EPYMARL_SN_MONGO_FINAL_WAIT_S='abc' is not a number of seconds >= 0",
    ),
    main_case(
        "run's database name",
        "mappo_sn",
        *RWARE,
        env={"SACRED_MONGO_DB": "my.db", "SACRED_MONGO_URL": "mongodb://127.0.0.1:9"},
        line=r"^error: SACRED_MONGO_DB='my.db' is not a MongoDB database name",
    ),
    main_case(
        "run's URL without a scheme",
        "mappo_sn",
        *RWARE,
        env={"SACRED_MONGO_URL": "127.0.0.1:27017"},
        line=r"^error: SACRED_MONGO_URL is not a valid MongoDB URL",
    ),
    cli_case(
        "runs URL without a scheme",
        "runs",
        env={"SACRED_MONGO_URL": "127.0.0.1:27017"},
        line=r"SACRED_MONGO_URL does not start with mongodb:// or mongodb\+srv://",
    ),
    cli_case(
        "plot URL without a scheme",
        "plot",
        "--metric",
        "return_mean",
        "--out",
        "{world}/fig",
        env={"SACRED_MONGO_URL": "127.0.0.1:27017"},
        line=r"SACRED_MONGO_URL does not start with mongodb://",
    ),
    cli_case(
        "push URL without a scheme",
        "runs",
        "push",
        "--store",
        "{world}/good",
        env={"SACRED_MONGO_URL": "127.0.0.1:27017"},
        line=r"SACRED_MONGO_URL takes a mongodb:// URL",
    ),
    cli_case(
        "runs database name",
        "runs",
        "--store",
        "mongodb://127.0.0.1:9",
        env={"SACRED_MONGO_DB": "my.db"},
        line=r"SACRED_MONGO_DB='my.db' is not a MongoDB database name",
    ),
    cli_case(
        "push database name",
        "runs",
        "push",
        "--store",
        "{world}/good",
        "--to",
        "mongodb://127.0.0.1:9",
        env={"SACRED_MONGO_DB": "a/b"},
        line=r"SACRED_MONGO_DB='a/b' is not a MongoDB database name",
    ),
    cli_case(
        "cache under a file",
        "board",
        "--store",
        "{world}/good",
        env={"EPYMARL_SN_CACHE": "{world}/good.yaml/cache"},
        line=r"the setup cache \S+good.yaml/cache \(from EPYMARL_SN_CACHE\) cannot be made a "
        r"directory \(Not a directory\)",
        code=1,
    ),
]


def _spec(world, seeds=(1, 2), **extra):
    env = {"env_config": "gymma", "with": {"env_args.key": "rware:rware-tiny-2ag-v2"}}
    return {"configs": ["mappo_sn"], "env_configs": [env], "seeds": list(seeds), **extra}


def _sacred_run(store, config, status="COMPLETED"):
    """A run written by Sacred's real FileStorageObserver, with two metric points."""
    ex = Experiment("pymarl")
    ex.add_config(config)

    @ex.main
    def train(_run):
        for step in (0, 100):
            _run.log_scalar("return_mean", step / 100, step)

    ex.observers.append(FileStorageObserver(str(store)))
    run = ex.run()
    path = Path(run.observers[0].dir)
    if status != "COMPLETED":
        info = json.loads((path / "run.json").read_text())
        info.update(status=status)
        (path / "run.json").write_text(json.dumps(info))
    return path


@pytest.fixture(scope="module")
def world(epymarl_dir, tmp_path_factory):
    """The files the catalogue's inputs name: a checkout (with broken configs, and a
    sweep lock that another sweep holds), stores, specs, setup targets."""
    root = tmp_path_factory.mktemp("catalogue")
    checkout = copy_checkout(epymarl_dir, root / "epymarl")
    configs = checkout / "src" / "config"
    (configs / "algs" / "broken_alg.yaml").write_text("lr: [0.1\nhidden_dim: 3\n")
    (configs / "algs" / "list_alg.yaml").write_text("- lr\n- hidden_dim\n")
    (configs / "envs" / "broken_env.yaml").write_text("env: gymma\nenv_args: {key: [\n")
    rware = {"env_config": "gymma", "with": {"env_args.key": "rware:nope-v1"}}
    for name, spec in {
        "good": _spec(root),
        "unknown": {**_spec(root), "configs": ["mappo_nope"]},
        "seeds": {**_spec(root), "seeds": ["one"]},
        "key": {"configs": ["mappo_sn"], "env_configs": ["gymma"], "seed": [1]},
        "negative_seed": _spec(root, seeds=(1, -1)),
        "huge_seed": _spec(root, seeds=(2**32,)),
        "data_file": _spec(root, data_dir="good.yaml"),
        "override_unknown": _spec(root, **{"with": {"hidden_dimm": 3}}),
        "override_bad": _spec(root, **{"with": {"hidden_dim": 0}}),
        "override_key": {**_spec(root), "env_configs": [rware]},
        "broken_alg": {**_spec(root), "configs": ["broken_alg"]},
        "t_max_zero": _spec(root, t_max=0),
    }.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    (root / "broken.yaml").write_text("configs: [mappo_sn\nseeds: [1]\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "bad_value.yaml").write_text("hidden_dim: 0\n")
    # another sweep runs on the checkout: it holds the lock (an flock), which names it
    lock = checkout / "results" / "sweep.lock"
    lock.parent.mkdir()
    held = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    holder = f"sweep {root}/other.yaml (PID {os.getpid()}, since 2026-01-01 00:00:00)"
    os.write(held, holder.encode())
    # a store of two good runs, for the plot and runs inputs
    for seed in (1, 2):
        _sacred_run(root / "good", {"name": "mappo_sn", "seed": seed, "env_args": {"key": "k"}})
    (root / "other").mkdir()
    (root / "other" / "notes.txt").write_text("not EPyMARL")
    (root / "foreign" / "src").mkdir(parents=True)
    (root / "foreign" / "src" / "main.py").write_text("print('not EPyMARL')\n")
    yield root, checkout
    os.close(held)


def _fill(value, root):
    return value.replace("{world}", str(root))


def _start(argv, cwd, env, **kwargs):
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SACRED_MONGO")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: what is left of it can be found
        **kwargs,
    )


def _group_gone(pgid, within_s=10.0):
    """Whether every process of the group has ended (killing what is left, if not)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(pgid, signal.SIGKILL)
    return False


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    group_gone: bool
    results: Path  # the run's results directory (main.py cases)


def _run_case(case, root, checkout, tmp_root):
    args = [_fill(a, root) for a in case.args]
    env = {k: _fill(v, root) for k, v in case.env.items()}
    if case.program == "main":
        work = tmp_root / re.sub(r"\W+", "_", case.id)
        shutil.copytree(checkout / "src", work / "src")
        proc = _start([sys.executable, "src/main.py", *args], work, env)
        results = work / "results"
    else:
        proc = _start([sys.executable, "-m", "epymarl_sn", *args], root, env)
        results = root / "results"
    try:
        out, err = proc.communicate(timeout=900)  # a loaded machine can starve it
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return Outcome(proc.returncode, out, err, _group_gone(proc.pid), results)


@pytest.fixture(scope="module")
def outcomes(world, tmp_path_factory):
    """Every case of CASES, run CONCURRENT at a time: case id -> Outcome."""
    root, checkout = world
    tmp_root = tmp_path_factory.mktemp("catalogue-runs")
    with ThreadPoolExecutor(CONCURRENT) as pool:
        futures = {c.id: pool.submit(_run_case, c, root, checkout, tmp_root) for c in CASES}
        return {case_id: f.result() for case_id, f in futures.items()}


def assert_clean_end(outcome, code, line):
    """The exit code, one clear last line, no traceback, nothing left behind."""
    text = outcome.stdout + outcome.stderr
    assert outcome.code == code, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    lines = [x for x in outcome.stderr.splitlines() if x.strip()]
    assert lines and re.search(line, lines[-1]), text[-3000:]
    errors = [x for x in lines if re.search(r"(^|: )error: ", x)]
    assert len(errors) == 1, errors
    assert outcome.group_gone, "a process of it outlived it"
    assert not list(outcome.results.rglob(".*.tmp")), "a temporary file was left"
    for run in outcome.results.rglob("run.json"):
        assert json.loads(run.read_text())["status"] != "RUNNING", run


def test_the_catalogue_has_at_least_100_bad_inputs():
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_in_one_clear_line(case, outcomes):
    outcome = outcomes[case.id]
    assert_clean_end(outcome, case.code, case.line)
    if case.program == "main":
        # stopped before the run started: Sacred made no run directory
        assert not list(outcome.results.rglob("run.json"))


# ----- damaged stores: one warning naming the run, and the work done -----------------


@pytest.fixture
def damaged_store(tmp_path):
    """Two good COMPLETED runs and three damaged ones (cut short, empty, a JSON list),
    plus a good run whose metrics.json is cut short."""
    store = tmp_path / "sacred"
    for seed in (1, 2):
        _sacred_run(store, {"name": "mappo_sn", "seed": seed, "env_args": {"key": "k"}})
    damaged = {}
    for seed, damage in ((3, "cut"), (4, "empty"), (5, "list")):
        path = _sacred_run(store, {"name": "mappo_sn", "seed": seed, "env_args": {"key": "k"}})
        run_json = path / "run.json"
        text = run_json.read_text()
        run_json.write_text({"cut": text[: len(text) // 2], "empty": "", "list": "[1, 2]"}[damage])
        damaged[damage] = path
    metrics = _sacred_run(store, {"name": "mappo_sn", "seed": 6, "env_args": {"key": "k"}})
    (metrics / "metrics.json").write_text('{"return_mean": {"steps": [0, 1')
    damaged["metrics"] = metrics
    return store, damaged


def _cli(*args, cwd=None, env=None):
    proc = _start([sys.executable, "-m", "epymarl_sn", *map(str, args)], cwd, env or {})
    out, err = proc.communicate(timeout=900)  # a loaded machine can starve it
    assert _group_gone(proc.pid)
    assert "Traceback" not in out + err, out + err
    return proc.returncode, out, err


def _warned(err, path, what):
    lines = [x for x in err.splitlines() if str(path) in x]
    assert len(lines) == 1 and re.search(what, lines[0]), err
    return lines[0]


def test_runs_lists_a_damaged_run_as_damaged(damaged_store):
    store, damaged = damaged_store
    code, out, err = _cli("runs", "--store", store)
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    for damage, what in (("cut", "cut short"), ("empty", "empty"), ("list", "JSON list")):
        row = rows[damaged[damage].relative_to(store).as_posix()]
        assert re.search(rf"DAMAGED \(run.json .*{what}", row), row
    assert "6 runs in" in err


def test_plot_and_export_skip_a_damaged_run_with_one_warning(damaged_store, tmp_path):
    store, damaged = damaged_store
    code, out, err = _cli(
        "plot",
        "--store",
        store,
        "--metric",
        "return_mean",
        "--out",
        tmp_path / "fig",
        "--reps",
        "10",
    )
    assert code == 0, err
    _warned(err, damaged["cut"], r"skipping damaged run .*: run.json is cut short after \d+ bytes")
    _warned(err, damaged["empty"], r"run.json is empty \(0 bytes\)")
    _warned(err, damaged["list"], r"run.json holds a JSON list, not an object")
    _warned(err, damaged["metrics"], r"damaged metrics, read as none: metrics.json is cut short")
    code, out, err = _cli(
        "runs", "--store", store, "--export-csv", tmp_path / "m.csv", "--metrics", "return_mean"
    )
    assert code == 0 and "3 runs" in out, out + err
    _warned(err, damaged["empty"], r"run.json is empty")


def test_push_leaves_a_damaged_run_alone(damaged_store, tmp_path):
    store, damaged = damaged_store
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        code, out, err = _cli("runs", "push", "--store", store, "--to", server.url)
        assert code == 0, err
        # the run with damaged metrics too: pushed once they are repaired
        assert "2 runs added" in out and "4 damaged left alone" in out, out
        _warned(err, damaged["list"], r"JSON list")
    finally:
        server.stop()


def test_sweep_runs_a_damaged_run_again(world, tmp_path, epymarl_dir):
    """A dry run after a crash: the COMPLETED run is done, the damaged one is not, and
    its folder is kept."""
    root, _ = world
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    spec = load_spec(root / "good.yaml", checkout).runs
    results = checkout / "results" / "sacred"
    _sacred_run(results, expected_config(spec[0], checkout))
    cut = _sacred_run(results, expected_config(spec[1], checkout))
    (cut / "run.json").write_text((cut / "run.json").read_text()[:50])
    code, out, err = _cli("sweep", root / "good.yaml", "--epymarl", checkout, "--dry-run")
    assert code == 0, err
    to_run = [x for x in out.splitlines() if not x.startswith("#")]
    assert "1 already COMPLETED" in out and len(to_run) == 1, out
    assert to_run[0].endswith("seed=2"), out
    _warned(err, cut, r"run.json is cut short")
    assert (cut / "run.json").is_file()


# ----- faults: runs stopped by a signal, killed, or out of disk space ---------------


def tiny_run(t_max=1_000_000):
    """A tiny RWARE run; by default one that trains until it is stopped."""
    return (
        "--config=mappo_sn",
        *RWARE_TINY_ENV,
        f"t_max={t_max}",
        "log_interval=500",
        "runner_log_interval=500",
        "learner_log_interval=500",
        "test_interval=500",
        "test_nepisode=2",
        "rware_batched=False",  # rware's own envs, in the vector runner's worker processes
    )


@dataclass
class Training:
    proc: subprocess.Popen
    work: Path

    def wait_training(self, timeout_s=600):
        """Until EPyMARL trains (its env workers are up)."""
        deadline = time.monotonic() + timeout_s
        log = self.work / "stderr.txt"
        while "Beginning training" not in log.read_text():
            assert self.proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.5)

    def workers(self):
        out = subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split() if int(p) != self.proc.pid]

    def finish(self, timeout_s=120):
        code = self.proc.wait(timeout=timeout_s)
        return code, (self.work / "stderr.txt").read_text()

    def run_json(self):
        (path,) = (self.work / "results" / "sacred").rglob("run.json")
        return path, json.loads(path.read_text())


@pytest.fixture
def training(epymarl_dir, tmp_path):
    started = []

    def start(*args, env=None, results=None):
        work = tmp_path / f"run{len(started)}"
        shutil.copytree(epymarl_dir / "src", work / "src")
        if results is not None:
            (work / "results").symlink_to(results)
        with open(work / "stderr.txt", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "src/main.py", *args],
                cwd=work,
                env={
                    **{k: v for k, v in os.environ.items() if not k.startswith("SACRED_")},
                    **(env or {}),
                },
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        started.append(proc)
        return Training(proc, work)

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _last_line(text):
    return [x for x in text.splitlines() if x.strip()][-1]


def test_sigterm_stops_a_run_in_one_line_interrupted_in_both_stores(training, tmp_path):
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        run = training(*tiny_run(), env={"SACRED_MONGO_URL": server.url})
        run.wait_training()
        assert run.workers(), "the vector runner's env workers"
        stopped = time.monotonic()
        os.kill(run.proc.pid, signal.SIGTERM)  # as `kill`, Slurm or `docker stop` send it
        code, err = run.finish()
        assert time.monotonic() - stopped < 30  # seconds, on a loaded 2-core machine
        assert code == 128 + signal.SIGTERM
        assert "Traceback" not in err
        # the run wrote a checkpoint at the next batch boundary, then stopped
        reason = _last_line(err).removeprefix("epymarl-sn: run INTERRUPTED: ")
        assert re.fullmatch(
            r"stopped by SIGTERM; checkpoint at t_env \d+ in \S+/checkpoint", reason
        )
        assert _group_gone(run.proc.pid), "env workers outlived the run"
        path, info = run.run_json()
        assert (info["status"], info["stop_reason"]) == ("INTERRUPTED", reason)
        assert (path.parent / "checkpoint" / "meta.json").is_file()
        (doc,) = pymongo.MongoClient(server.url).epymarl.runs.find()
        assert (doc["status"], doc["stop_reason"]) == ("INTERRUPTED", reason)
    finally:
        server.stop()


def test_ctrl_c_stops_a_run_in_one_line(training):
    # without checkpoints a stop signal stops the run at once
    run = training(*tiny_run(), "checkpoint_interval=0")
    run.wait_training()
    os.killpg(run.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    code, err = run.finish()
    assert code == 128 + signal.SIGINT
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert _last_line(err) == "epymarl-sn: run INTERRUPTED: stopped by SIGINT"
    assert _group_gone(run.proc.pid)
    _, info = run.run_json()
    assert (info["status"], info["stop_reason"]) == ("INTERRUPTED", "stopped by SIGINT")


def test_a_killed_run_shows_stale_and_is_marked_interrupted_then_pushed(training, tmp_path):
    run = training(*tiny_run())
    run.wait_training()
    os.killpg(run.proc.pid, signal.SIGKILL)  # no handler runs: the run stays RUNNING
    run.proc.wait()
    path, info = run.run_json()
    assert info["status"] == "RUNNING"
    store = run.work / "results" / "sacred"
    # the run died 10 minutes ago: its last heartbeat is that old
    old = datetime.fromisoformat(info["heartbeat"] or info["start_time"]) - timedelta(minutes=10)
    path.write_text(json.dumps({**info, "heartbeat": old.isoformat()}))
    code, out, err = _cli("runs", "--store", store)
    assert code == 0 and re.search(r"RUNNING \(stale: no heartbeat for 10m \d+s", out), out
    code, out, err = _cli("runs", "mark-stale", "--store", store)
    assert code == 0 and "1 stale run marked INTERRUPTED" in err, out + err
    info = json.loads(path.read_text())
    assert info["status"] == "INTERRUPTED" and "no heartbeat since" in info["stop_reason"]
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        code, out, err = _cli("runs", "push", "--store", store, "--to", server.url)
        assert code == 0 and "1 run added" in out, out + err
        (doc,) = pymongo.MongoClient(server.url).epymarl.runs.find()
        assert doc["status"] == "INTERRUPTED"
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A real 20 MB tmpfs, filled but for 400 KiB; unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], check=True)
    try:
        free = shutil.disk_usage(mount).free
        (mount / "filler").write_bytes(b"\0" * (free - 400 * 1024))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_stops_the_run_failed_in_one_line_with_its_files_intact(training, small_disk):
    results = small_disk / "results"
    results.mkdir()
    run = training(*tiny_run(20_000), "save_model=True", "save_model_interval=500", results=results)
    code, err = run.finish(timeout_s=600)
    assert code == 1
    assert "Traceback" not in err and "No space left" not in err, err[-3000:]
    line = _last_line(err)
    assert re.fullmatch(
        r"epymarl-sn: run FAILED: no space left on the device writing (\S.*) "
        r"\((\d+ bytes|[\d.]+ MiB) free there\)",
        line,
    ), line
    assert _group_gone(run.proc.pid)
    path, info = run.run_json()
    assert info["status"] == "FAILED" and info["stop_reason"] == line.split("FAILED: ")[1]
    # every file written is whole: the JSON files parse, the models load, no temporary left
    for f in path.parent.glob("*.json"):
        json.loads(f.read_text())
    import torch

    models = list((results / "models").rglob("*.th"))
    assert models, "models saved before the disk filled up"
    for f in models:
        torch.load(f, weights_only=False)
    assert not [f for f in results.rglob("*") if f.name.endswith(".tmp")]


# ----- no orphans: the board's servers go with it ------------------------------------

SERVER_OWNER = """
import sys, time
from pathlib import Path
from epymarl_sn.board.local_server import LocalServer
server = LocalServer(Path(sys.argv[1]), log=Path(sys.argv[1] + ".log")).start()
print(server.proc.pid, flush=True)
time.sleep(600)
"""


def kill_owner_and_wait_for(owner: subprocess.Popen, child_pid: int, what: str) -> None:
    """SIGKILL `owner`; its child must be gone within 20 s. Whatever outlives the
    test is killed by its PID, so a failure leaves no orphan behind."""
    try:
        os.kill(child_pid, 0)  # it runs
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 20
        while alive(child_pid):
            assert time.monotonic() < deadline, f"{what} outlived its owner"
            time.sleep(0.2)
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
        if alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_a_local_server_dies_with_its_owner_killed_by_sigkill(tmp_path):
    """`board` SIGKILLed: its local MongoDB goes too (Omniboard is started alike)."""
    owner = subprocess.Popen(
        [sys.executable, "-c", SERVER_OWNER, str(tmp_path / "store")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_owner_and_wait_for(owner, int(owner.stdout.readline()), "the server")


DEAF_CHILD_OWNER = """
import os, subprocess, sys, time
from functools import partial
from epymarl_sn.waiting import die_with_parent
deaf = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(1, flush=True); time.sleep(600)"
)
child = subprocess.Popen(
    [sys.executable, "-c", deaf],
    stdout=subprocess.PIPE,
    start_new_session=True,
    preexec_fn=partial(die_with_parent, os.getpid()),
)
child.stdout.readline()  # its SIGTERM is ignored from here on
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_child_whose_own_stop_hangs_still_dies_with_its_owner():
    """The parent-death signal is SIGKILL: a server whose graceful stop wedges under
    load (as the local MongoDB server's did once) must not outlive a killed `board`.
    Here the child ignores SIGTERM outright, the worst such stop."""
    owner = subprocess.Popen(
        [sys.executable, "-c", DEAF_CHILD_OWNER],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    kill_owner_and_wait_for(owner, int(owner.stdout.readline()), "a child that ignores SIGTERM")


def test_a_server_still_holding_the_store_is_named_with_its_pid(tmp_path):
    from epymarl_sn.errors import BoardError

    old = LocalServer(tmp_path / "store", log=tmp_path / "old.log").start()
    try:
        with pytest.raises(BoardError) as err:
            LocalServer(tmp_path / "store", log=tmp_path / "new.log").start()
        assert str(err.value) == (
            f"an earlier local MongoDB server (PID {old.proc.pid}) still holds "
            f"{tmp_path / 'store'}: stop it with `kill {old.proc.pid}`, then start again"
        )
    finally:
        old.stop()


KILLED_RUN = """
import sys, time
from sacred import SETTINGS, Experiment
from sacred.observers import MongoObserver
SETTINGS.CAPTURE_MODE = "no"  # "started" reaches the pipe at once, not through a capture
ex = Experiment("pymarl", interactive=True)  # a `python -c` script
ex.add_config(name="mappo_sn", seed=1)

@ex.main
def train(_run):
    print("started", flush=True)
    time.sleep(600)

ex.observers.append(MongoObserver(url=sys.argv[1], db_name="epymarl"))
ex.run()
"""


def test_mark_stale_marks_a_killed_run_in_mongodb(tmp_path):
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, server.url], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "started"
        proc.kill()  # SIGKILL: Sacred records nothing more
        proc.wait()
        runs = pymongo.MongoClient(server.url).epymarl.runs
        (doc,) = runs.find()
        assert doc["status"] == "RUNNING"
        # it died 2 hours ago
        old = doc["start_time"] - timedelta(hours=2)
        runs.update_one({"_id": doc["_id"]}, {"$set": {"heartbeat": old, "start_time": old}})
        code, out, err = _cli("runs", "--store", server.url)
        assert code == 0 and "RUNNING (stale: no heartbeat for 2h 0m" in out, out + err
        code, out, err = _cli("runs", "mark-stale", "--store", server.url)
        assert code == 0 and "1 stale run marked INTERRUPTED" in err, out + err
        (doc,) = runs.find()
        assert doc["status"] == "INTERRUPTED"
        assert doc["stop_reason"].startswith(f"no heartbeat since {old:%Y-%m-%d %H:%M:%S} UTC")
    finally:
        server.stop()


# ----- sweeps: resume by the whole config -------------------------------------------


def test_resume_compares_the_whole_resolved_config(world, tmp_path, epymarl_dir):
    """Runs stored with an override count as done for the spec that has it, and not for
    the spec without it, whose runs would differ (hidden_dim: the preset's 64)."""
    root, _ = world
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    with_override = tmp_path / "narrow.yaml"
    with_override.write_text(yaml.safe_dump(_spec(root, **{"with": {"hidden_dim": 32}})))
    results = checkout / "results" / "sacred"
    for run in load_spec(with_override, checkout).runs:
        _sacred_run(results, expected_config(run, checkout))
    code, out, err = _cli("sweep", with_override, "--epymarl", checkout, "--dry-run")
    assert code == 0 and "2 already COMPLETED" in out, out + err
    code, out, err = _cli("sweep", root / "good.yaml", "--epymarl", checkout, "--dry-run")
    assert code == 0 and "0 already COMPLETED" in out, out + err


# ----- stores that are read-only or full: real tmpfs mounts ---------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size): a real tmpfs of that size (unmounted at the end); remount(mount,
    "ro" or "rw") turns it read-only or back."""
    mounts = []

    def mount(size="20m"):
        path = tmp_path / f"disk{len(mounts)}"
        path.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True)
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill(disk, leave):
    """Fill a tmpfs but for `leave` bytes."""
    free = shutil.disk_usage(disk).free
    (disk / f"filler{time.monotonic_ns()}").write_bytes(b"\0" * max(free - leave, 0))


def _clean_failure(code, out, err, line):
    """Exit status 1 or 2, no traceback, one error line matching `line`."""
    lines = [x for x in err.splitlines() if x.strip()]
    assert code in (1, 2) and lines and re.search(line, lines[-1]), out + err
    assert len([x for x in lines if "error: " in x]) == 1, err


def test_a_read_only_results_directory_stops_a_run_before_it_trains(training, tmpfs):
    disk = tmpfs()
    (disk / "results").mkdir()
    remount(disk, "ro")
    run = training(*tiny_run(2000), results=disk / "results")
    code, err = run.finish(timeout_s=300)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert re.fullmatch(
        r"epymarl-sn: run FAILED: cannot write \S*results/sacred\S* \(Read-only file system\)",
        _last_line(err),
    ), err[-3000:]
    assert "Beginning training" not in err
    assert _group_gone(run.proc.pid)


def test_a_store_turned_read_only_mid_run_fails_the_run_in_one_line(training, tmpfs):
    """The run stops FAILED at its next write (exit 1, one line), its files keep their
    last whole version, and once its process is gone `runs` sees it so, at once."""
    disk = tmpfs()
    (disk / "results").mkdir()
    run = training(*tiny_run(), results=disk / "results")
    run.wait_training()
    remount(disk, "ro")
    code, err = run.finish(timeout_s=120)  # Sacred writes every 10 s
    assert code == 1 and "Traceback" not in err, err[-3000:]
    assert re.fullmatch(
        r"epymarl-sn: run FAILED: cannot write \S+ \(Read-only file system\)",
        _last_line(err),
    ), err[-3000:]
    assert _group_gone(run.proc.pid)
    remount(disk, "rw")
    path, info = run.run_json()
    for f in path.parent.glob("*.json"):
        json.loads(f.read_text())
    assert info["status"] == "RUNNING"  # it could not be written: its process says the rest
    store = disk / "results" / "sacred"
    code, out, err = _cli("runs", "--store", store)
    assert code == 0 and "RUNNING (stale: no heartbeat for" in out, out + err
    code, out, err = _cli("runs", "mark-stale", "--store", store)
    assert code == 0 and "1 stale run marked INTERRUPTED" in err, out + err


def _big_store(root, points=40_000):
    """One COMPLETED run whose return_mean has many points (a CSV of about 1.5 MB)."""
    store = root / "big"
    path = _sacred_run(store, {"name": "mappo_sn", "seed": 1, "env_args": {"key": "k"}})
    steps = list(range(0, points * 100, 100))
    metric = {"steps": steps, "values": [s / 7 for s in steps]}
    (path / "metrics.json").write_text(json.dumps({"return_mean": metric}))
    return store


def test_a_csv_export_on_a_full_disk_leaves_no_file(tmp_path, tmpfs):
    store = _big_store(tmp_path)
    disk = tmpfs()
    fill(disk, 200 * 1024)
    out = disk / "m.csv"
    code, stdout, err = _cli(
        "runs", "--store", store, "--export-csv", out, "--metrics", "return_mean"
    )
    _clean_failure(code, stdout, err, rf"no space left on the device writing {out} \(")
    assert sorted(p.name for p in disk.iterdir() if not p.name.startswith("filler")) == []


def test_a_plot_on_a_full_disk_leaves_no_cut_file(tmp_path, tmpfs):
    store = _big_store(tmp_path, points=200)
    disk = tmpfs()
    (disk / "fig").mkdir()
    fill(disk, 4096)
    code, out, err = _cli(
        "plot", "--store", store, "--metric", "return_mean", "--out", disk / "fig", "--reps", "5"
    )
    _clean_failure(code, out, err, r"no space left on the device writing \S+/fig/\S+ \(")
    assert list((disk / "fig").iterdir()) == []  # no figure cut short, no temporary file


def _stale_store(store):
    """A RUNNING run whose heartbeat is an hour old, recorded without a process id."""
    path = _sacred_run(store, {"name": "mappo_sn", "seed": 1, "env_args": {"key": "k"}})
    info = json.loads((path / "run.json").read_text())
    old = (datetime.fromisoformat(info["start_time"]) - timedelta(hours=1)).isoformat()
    info.update(status="RUNNING", heartbeat=old, stop_time=None)
    (path / "run.json").write_text(json.dumps(info))
    return path


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_mark_stale_on_a_store_it_cannot_write_says_so(tmpfs, fault):
    disk = tmpfs("1m")
    path = _stale_store(disk / "sacred")
    before = (path / "run.json").read_text()
    if fault == "read-only":
        remount(disk, "ro")
        why = r"cannot write \S+/run.json \(Read-only file system\)"
    else:
        fill(disk, 0)
        why = r"no space left on the device writing \S+/run.json"
    code, out, err = _cli("runs", "mark-stale", "--store", disk / "sacred")
    _clean_failure(code, out, err, why + r".*; the run keeps its old status")
    assert (path / "run.json").read_text() == before
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]


# ----- readers of odd stores: nothing crashes, nothing blocks -------------------------


@pytest.fixture
def odd_store(tmp_path):
    """Runs a reader must survive: times with a zone, a run.json that is a FIFO, no
    start_time, metric values that are text, steps and values of unequal lengths,
    metrics without timestamps, and a run that diverged to NaN and Infinity."""
    store = tmp_path / "odd"
    runs = {
        name: _sacred_run(store, {"name": "mappo_sn", "seed": seed, "env_args": {"key": "k"}})
        for seed, name in enumerate(
            ["good", "zoned", "fifo", "no_start", "text", "lengths", "no_stamps", "diverged"], 1
        )
    }

    def edit_run(name, **changes):
        info = json.loads((runs[name] / "run.json").read_text())
        info.update(changes)
        info = {k: v for k, v in info.items() if v is not None}
        (runs[name] / "run.json").write_text(json.dumps(info))

    def metrics(name, text):
        (runs[name] / "metrics.json").write_text(text)

    edit_run("zoned", start_time="2026-01-01T10:00:00+02:00", stop_time="2026-01-01T11:00:00Z")
    (runs["fifo"] / "run.json").unlink()
    os.mkfifo(runs["fifo"] / "run.json")
    edit_run("no_start", start_time=None)
    metrics("text", '{"return_mean": {"steps": [0, 100], "values": ["high", "low"]}}')
    metrics("lengths", '{"return_mean": {"steps": [0, 100, 200], "values": [0.1, 0.2]}}')
    metrics("no_stamps", '{"return_mean": {"steps": [0, 100], "values": [0.3, 0.4]}}')
    metrics("diverged", '{"return_mean": {"steps": [0, 50, 100], "values": [0.5, NaN, Infinity]}}')
    return store, runs


def test_runs_lists_an_odd_store_without_blocking(odd_store):
    store, runs = odd_store
    code, out, err = _cli("runs", "--store", store)  # a FIFO read would block for good
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    fifo = rows[runs["fifo"].relative_to(store).as_posix()]
    assert "DAMAGED (run.json is a FIFO)" in fifo, out
    assert "8 runs in" in err


def test_plot_keeps_a_diverged_run_and_says_so(odd_store, tmp_path):
    store, runs = odd_store
    code, out, err = _cli(
        "plot", "--store", store, "--metric", "return_mean", "--out", tmp_path, "--reps", "5"
    )
    assert code == 0, err
    diverged = runs["diverged"].relative_to(store).as_posix()
    assert re.search(
        rf"warning: run {diverged} diverged: its return_mean is NaN or infinite from step 50",
        err,
    ), err
    _warned(err, runs["text"], r"metric left out: return_mean has a value that is not a number")
    _warned(err, runs["lengths"], r"metric left out: return_mean has 3 steps but 2 values")
    assert re.search(r"note: 2 of 7 selected runs did not log return_mean", err), err


def test_push_takes_an_odd_store_and_leaves_the_damaged_alone(odd_store, tmp_path):
    store, runs = odd_store
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        code, out, err = _cli("runs", "push", "--store", store, "--to", server.url)
        assert code == 0, err
        # good, zoned, no_stamps, diverged added; fifo, no_start, text, lengths left alone
        assert "4 runs added" in out and "4 damaged left alone" in out, out + err
        _warned(err, runs["no_start"], r"run.json has no start_time")
        db = pymongo.MongoClient(server.url).epymarl
        zoned = db.runs.find_one({"config.seed": 2})
        assert zoned["start_time"] == datetime(2026, 1, 1, 8, 0)  # naive UTC, as Sacred's
        (points,) = db.metrics.find({"run_id": db.runs.find_one({"config.seed": 7})["_id"]})
        assert points["values"] == [0.3, 0.4]
        code, out, err = _cli("runs", "push", "--store", store, "--to", server.url)
        assert "0 runs added" in out and "4 already there" in out, out + err
    finally:
        server.stop()


def test_a_directory_that_cannot_be_read_is_named():
    """Run as `nobody`, for whom one run directory is closed: one warning names it."""
    top = Path(tempfile.mkdtemp(prefix="catalogue-unreadable-"))
    try:
        top.chmod(0o755)
        store = top / "sacred"
        for seed in (1, 2):
            _sacred_run(store, {"name": "mappo_sn", "seed": seed, "env_args": {"key": "k"}})
        closed = sorted(store.rglob("run.json"))[1].parent
        # nobody imports a copy of the package: the checkout may sit in a directory
        # only its owner can enter (a clone into `mktemp -d`)
        package = Path(epymarl_sn.__file__).parent
        shutil.copytree(
            package, top / "src" / "epymarl_sn", ignore=shutil.ignore_patterns("__pycache__")
        )
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        closed.chmod(0o700)
        proc = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            + [sys.executable, "-m", "epymarl_sn", "runs", "--store", str(store)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=top,
            env={**os.environ, "HOME": str(top), "PYTHONPATH": str(top / "src")},
        )
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        _warned(proc.stderr, closed, r"cannot read \S+ \(Permission denied\): the runs in it")
        assert "1 run in" in proc.stderr
    finally:
        shutil.rmtree(top)


def test_runs_show_a_very_long_id_on_mongodb(tmp_path):
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        for run_id in ("9" * 40, "x" * 5000):
            code, out, err = _cli("runs", "show", run_id, "--store", server.url)
            _clean_failure(code, out, err, r"no run '\w+' in MongoDB .* \(0 runs there")
    finally:
        server.stop()


def test_the_committed_data_can_be_pushed_for_omniboard(tmp_path):
    """docs/data/rware_fig2 (compact runs, no timestamps) into MongoDB, as `board
    --store` feeds its local server; a copy: the committed data is never changed."""
    data = tmp_path / "rware_fig2"
    shutil.copytree(Path(__file__).resolve().parents[1] / "docs" / "data" / "rware_fig2", data)
    count = len(list(data.rglob("run.json")))
    server = LocalServer(tmp_path / "mongo", args=["--enable-test-commands"]).start()
    try:
        code, out, err = _cli("runs", "push", "--store", data, "--to", server.url)
        assert code == 0 and f"{count} runs added" in out, out + err
        db = pymongo.MongoClient(server.url).epymarl
        assert db.runs.count_documents({"status": "COMPLETED"}) == count
        metric = db.metrics.find_one({"name": "test_return_mean"})
        assert metric and len(metric["steps"]) == len(metric["values"]) > 10
        code, out, err = _cli("runs", "push", "--store", data, "--to", server.url)
        assert f"{count} already there" in out, out + err
    finally:
        server.stop()


# ----- liveness: asked of the process, not read off the heartbeat's age ---------------


def test_a_stopped_run_is_not_called_stale(training):
    run = training(*tiny_run())
    run.wait_training()
    path, info = run.run_json()
    assert info["host"]["pid"] == run.proc.pid
    os.killpg(run.proc.pid, signal.SIGSTOP)  # stopped: it beats no more, and still runs
    try:
        # stopped for 10 minutes, as far as its heartbeat tells
        old = datetime.fromisoformat(info["heartbeat"] or info["start_time"]) - timedelta(
            minutes=10
        )
        path.write_text(json.dumps({**json.loads(path.read_text()), "heartbeat": old.isoformat()}))
        store = run.work / "results" / "sacred"
        code, out, err = _cli("runs", "--store", store)
        assert code == 0 and "RUNNING" in out and "stale" not in out, out + err
        code, out, err = _cli("runs", "mark-stale", "--store", store)
        assert code == 0 and "0 stale runs marked INTERRUPTED" in err, out + err
    finally:
        os.killpg(run.proc.pid, signal.SIGCONT)
    os.kill(run.proc.pid, signal.SIGTERM)
    code, err = run.finish()
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert run.run_json()[1]["status"] == "INTERRUPTED"
