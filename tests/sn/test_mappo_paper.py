"""The plugin's baseline preset runs through the patched EPyMARL end to end."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import RWARE_TINY


def test_entry_point_registers_into_epymarl(epymarl_dir):
    # the patched main.py calls the entry point with EPyMARL's src/ importable
    code = """
import importlib.metadata, json, sys
(ep,) = [e for e in importlib.metadata.entry_points(group="epymarl.plugins") if e.name == "sn"]
plugin = ep.load()()
from modules.critics import REGISTRY as critics
from learners import REGISTRY as learners
from envs import REGISTRY as envs
print(json.dumps({"ep": ep.value, "config_dir": plugin["config_dir"],
                  "checks": callable(plugin["check_config"]),
                  "registries": sorted(critics) + sorted(learners) + sorted(envs)}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=epymarl_dir / "src",
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = json.loads(proc.stdout.splitlines()[-1])
    assert plugin["ep"] == "epymarl_sn.plugin:register"
    assert plugin["checks"] is True
    with open(Path(plugin["config_dir"]) / "algs" / "mappo_paper.yaml") as f:
        assert yaml.safe_load(f)["name"] == "mappo_paper"
    assert {
        "cv_critic",
        "ppo_learner",
        "gymma",  # EPyMARL's own, kept
        "cv_critic_sn",
        "ppo_sn_learner",
        "sc2_sparse",
        "smaclite_sparse",
    } <= set(plugin["registries"])


def test_mappo_paper_trains_and_leaves_sacred_run(run_main):
    result = run_main("--config=mappo_paper", *RWARE_TINY, "seed=3")

    assert result.proc.returncode == 0, result.output[-3000:]
    (run,) = result.runs
    assert run.run["status"] == "COMPLETED"
    assert run.path.parts[-3:-1] == ("mappo_paper", "rware:rware-tiny-2ag-v2")
    config = run.config
    assert config["name"] == "mappo_paper"
    assert config["seed"] == 3
    # the paper's hyper-parameters (§V) reached the run
    assert config["lr"] == 0.0005
    assert config["grad_norm_clip"] == 10
    assert config["hidden_dim"] == 64
    assert config["q_nstep"] == 10
    assert config["critic_type"] == "cv_critic"
    assert config["agent"] == "rnn" and config["use_rnn"] is True
    returns = run.metrics["return_mean"]
    assert len(returns["values"]) >= 1
    assert returns["steps"] == sorted(returns["steps"])
    assert "critic_grad_norm" in run.metrics
