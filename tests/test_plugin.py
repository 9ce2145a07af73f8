"""What a training run prints first: its own lines, not the libraries' noise; what
register() gives EPyMARL."""

import json
import subprocess
import sys

import torch

from helpers import RWARE_TINY

NOISE = (
    "pkg_resources",  # sacred's import, with setuptools >= 80.9
    "PettingZoo is not installed",  # EPyMARL's notes on optional env families
    "VMAS is not installed",
    "git.cmd",  # GitPython's DEBUG lines for Sacred's git info
    "non-tuple sequence for multidimensional indexing",  # PyTorch, in EPyMARL's buffer
)


def test_a_run_starts_with_its_own_lines_and_keeps_real_warnings(run_main):
    # use_cuda=True on a machine without CUDA: EPyMARL's warning about the user's own
    # config must still show
    result = run_main("--config=mappo_sn", *RWARE_TINY, "use_cuda=True")
    assert result.proc.returncode == 0, result.output[-3000:]
    assert [r.run["status"] for r in result.runs] == ["COMPLETED"]
    for noise in NOISE:
        assert noise not in result.output
    # the log (stderr) opens with Sacred's first line of the run
    assert "Saving to FileStorageObserver" in result.proc.stderr.splitlines()[0]
    switched_off = "CUDA flag use_cuda was switched OFF automatically" in result.output
    assert switched_off == (not torch.cuda.is_available())


def test_a_pettingzoo_command_still_hears_that_pettingzoo_is_missing(run_main):
    result = run_main(
        "--config=mappo_sn", "--env-config=gymma", "with", "env_args.key=pz-mpe-simple-spread-v3"
    )
    assert "PettingZoo is not installed" in result.output
    assert "VMAS is not installed" not in result.output


# register() in a new process, as the patched main.py calls it (EPyMARL's src/ on
# sys.path): what EPyMARL's registries held before and after, and what it returned
REGISTER = """
import json, os, sys
from importlib import import_module
sys.path.insert(0, os.getcwd())
from sacred.observers import MongoObserver
from epymarl_sn.plugin import REGISTRATIONS, register
def held():
    return [e.key in import_module(e.registry).REGISTRY for e in REGISTRATIONS]
before = held()
plugin = register()
print(json.dumps({
    "before": before,
    "after": [import_module(e.registry).REGISTRY[e.key] is e.load() for e in REGISTRATIONS],
    "returned": {key: type(value).__name__ for key, value in plugin.items()},
    "observer_is_mongo": issubclass(plugin["mongo_observer"], MongoObserver),
    "config_dir": sorted(os.listdir(plugin["config_dir"])),
}))
"""


def test_register_adds_its_registrations_and_returns_the_protocol(epymarl_dir):
    from epymarl_sn.plugin import REGISTRATIONS, Plugin

    proc = subprocess.run(
        [sys.executable, "-c", REGISTER],
        cwd=epymarl_dir / "src",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(REGISTRATIONS) == 5
    assert result["before"] == [False] * len(REGISTRATIONS)
    assert result["after"] == [True] * len(REGISTRATIONS)
    assert set(result["returned"]) == set(Plugin.__annotations__)
    assert result["returned"]["config_dir"] == "str"
    assert result["returned"]["check_config"] == "function"
    assert result["observer_is_mongo"]
    assert {"algs", "envs"} <= set(result["config_dir"])
