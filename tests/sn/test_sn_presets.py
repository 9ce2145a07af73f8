"""The SN presets are mappo_paper plus exactly the differences the README names."""

import pytest
import yaml

from epymarl_sn.resources import config_dir
from epymarl_sn.sn.config import sn_settings
from epymarl_sn.sn.layer import SNLinear

from helpers import preset_args, random_batch

SN_PRESETS = {
    # name: (critic_sn, standardise_returns, normalised layers of the 3-layer critic)
    "mappo_sn": ("mid", False, {2}),
    "mappo_fullsn": ("full", True, {1, 2, 3}),
    "mappo_midsn": ("mid", False, {2}),
    "mappo_lastsn": ("last", True, {3}),
}


def load(name):
    return yaml.safe_load((config_dir() / "algs" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", SN_PRESETS)
def test_preset_is_mappo_paper_with_sn(name):
    critic_sn, standardise_returns, _ = SN_PRESETS[name]
    expected = {
        **load("mappo_paper"),
        # the SN keys at the paper's values (written out: the defaults of the code under
        # test would pass whatever they hold); critic_sn below
        "critic_layers": 3,
        "critic_sn_k": 1.0,
        "critic_sn_clamp": False,
        "critic_sn_power_iterations": 1,
        "critic_sn_stop_grad": False,
        "critic_type": "cv_critic_sn",
        "critic_sn": critic_sn,
        "standardise_returns": standardise_returns,
        "learner": "ppo_sn_learner",
        "name": name,
    }
    assert load(name) == expected


@pytest.mark.parametrize("name", SN_PRESETS)
def test_preset_builds_the_paper_critic(epymarl_src, name):
    from modules.critics import REGISTRY

    args = preset_args(epymarl_src, name)
    critic = REGISTRY[args.critic_type](random_batch(args).scheme, args)
    # the settings the config check parsed are the object the critic built from
    assert critic.sn is sn_settings(vars(args))
    assert len(critic.layers) == 3
    assert {
        i for i, layer in enumerate(critic.layers, 1) if isinstance(layer, SNLinear)
    } == SN_PRESETS[name][2]
