"""The plugin's baseline preset runs through the patched EPyMARL end to end."""
import importlib.metadata

import yaml

from conftest import RWARE_TINY
from epymarl_sn import register


def test_entry_point_registers_plugin_config_dir():
    (ep,) = [e for e in importlib.metadata.entry_points(group="epymarl.plugins")
             if e.name == "sn"]
    assert ep.value == "epymarl_sn:register"
    plugin = ep.load()()
    assert plugin == register()
    assert (plugin["config_dir"] + "/algs/mappo_paper.yaml").endswith("mappo_paper.yaml")
    with open(plugin["config_dir"] + "/algs/mappo_paper.yaml") as f:
        assert yaml.safe_load(f)["name"] == "mappo_paper"


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
