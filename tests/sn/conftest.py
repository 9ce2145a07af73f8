"""Fixtures of the SN tests: in-process EPyMARL (its src/ importable, the plugin
registered), a preset's args as run() builds them, random episode batches."""

import sys
from types import SimpleNamespace

import pytest
import torch
import yaml

from epymarl_sn.resources import config_dir

N_AGENTS, N_ACTIONS, STATE_DIM, OBS_DIM, EPISODE_LEN = 2, 5, 30, 15, 12


@pytest.fixture(scope="session")
def epymarl_src(epymarl_dir):
    """EPyMARL's src/ on sys.path (as src/main.py has it) with the SN components registered."""
    src = epymarl_dir / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from epymarl_sn.plugin import register

    register()
    return src


def _preset_args(src, preset, **overrides):
    """The args EPyMARL's run() would build from default.yaml, gymma.yaml and a preset."""
    config = {}
    for path in (
        src / "config" / "default.yaml",
        src / "config" / "envs" / "gymma.yaml",
        config_dir() / "algs" / f"{preset}.yaml",
    ):
        config.update(yaml.safe_load(path.read_text()))
    config.update(
        n_agents=N_AGENTS, n_actions=N_ACTIONS, state_shape=STATE_DIM, use_cuda=False, device="cpu"
    )
    config.update(overrides)
    return SimpleNamespace(**config)


def _random_batch(args, batch_size=4, seed=0):
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


@pytest.fixture(scope="session")
def preset_args():
    """preset_args(src, preset, **overrides) -> the args EPyMARL's run() would build."""
    return _preset_args


@pytest.fixture(scope="session")
def random_batch():
    """random_batch(args, batch_size=4, seed=0) -> an EpisodeBatch of random transitions."""
    return _random_batch
