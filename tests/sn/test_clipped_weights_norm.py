"""`critic_grad_norm_clipped_weights`, the authors' second critic gradient norm, on real
SMAClite episodes collected by EPyMARL's own runner and trained on by ppo_sn_learner."""

import copy
import logging
from types import SimpleNamespace

import pytest
import torch

from epymarl_sn.resources import main_config


def norm(tensors):
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


@pytest.fixture(scope="module")
def smaclite_run(epymarl_src):
    """make(preset, **overrides) -> (learner, runner): a preset on smaclite_sparse 2s3z as
    run.py sets it up (EpisodeRunner, real MAC, the preset's learner), one env."""
    from components.transforms import OneHot
    from controllers import REGISTRY as macs
    from learners import REGISTRY as learners
    from runners import REGISTRY as runners
    from utils.logging import Logger

    def make(preset, env_args=None, **overrides):
        config = main_config(epymarl_src.parent, "smaclite_sparse", preset)
        config["env_args"].update(map_name="2s3z", use_cpp_rvo2=False, seed=1, **(env_args or {}))
        config.update(runner="episode", batch_size_run=1, use_cuda=False, device="cpu", **overrides)
        args = SimpleNamespace(**config)
        logger = Logger(logging.getLogger("sn-test"))
        runner = runners[args.runner](args=args, logger=logger)
        info = runner.get_env_info()
        args.n_agents, args.n_actions = info["n_agents"], info["n_actions"]
        args.state_shape = info["state_shape"]
        scheme = {
            "state": {"vshape": info["state_shape"]},
            "obs": {"vshape": info["obs_shape"], "group": "agents"},
            "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
            "avail_actions": {
                "vshape": (info["n_actions"],),
                "group": "agents",
                "dtype": torch.int,
            },
            "terminated": {"vshape": (1,), "dtype": torch.uint8},
            "reward": {"vshape": (1,)},
        }
        groups = {"agents": args.n_agents}
        preprocess = {"actions": ("actions_onehot", [OneHot(out_dim=args.n_actions)])}
        torch.manual_seed(0)
        mac = macs[args.mac](scheme, groups, args)
        runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
        batch_scheme = runner.new_batch().scheme  # with actions_onehot, as the buffer's
        return learners[args.learner](mac, batch_scheme, logger, args), runner

    return make


def direct_norms(learner, critic, target_critic, batch):
    """The critic's one update on `batch`, computed here with autograd: its gradient
    norm before clipping (all parameters) and the weights-only norm after clipping."""
    args = learner.args
    rewards = batch["reward"][:, :-1].expand(-1, -1, args.n_agents)
    terminated = batch["terminated"][:, :-1].float()
    mask = batch["filled"][:, :-1].float()
    mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
    mask = mask.repeat(1, 1, args.n_agents)
    with torch.no_grad():
        target_vals = target_critic(batch).squeeze(3)
    returns = learner.nstep_returns(rewards, mask, target_vals, args.q_nstep)
    v = critic(batch)[:, :-1].squeeze(3)
    loss = (((returns - v) * mask) ** 2).sum() / mask.sum()
    names, params = zip(*critic.named_parameters())
    grads = torch.autograd.grad(loss, params)
    total = norm(grads).item()
    # an SN layer's raw weight is its parametrization's `original`
    weight_grads = [g for n, g in zip(names, grads) if n.endswith(("weight", "weight.original"))]
    weights = norm(weight_grads).item()
    # torch's clip_grad_norm_: every gradient times min(1, max_norm / (norm + 1e-6))
    return total, weights * min(1.0, args.grad_norm_clip / (total + 1e-6))


# the presets' clip is 10; this seed's MidSN critic's gradient norms lie at 6-10 over
# these episodes, so 8 for it: both the clipped and the unclipped case are checked
@pytest.mark.parametrize("preset,clip", [("mappo_paper", 10.0), ("mappo_midsn", 8.0)])
def test_equals_the_norm_of_the_last_clipped_critic_update(smaclite_run, preset, clip):
    # one epoch: the logged gradients are those of the one critic update computed here
    learner, runner = smaclite_run(preset, epochs=1, learner_log_interval=0, grad_norm_clip=clip)
    assert learner.args.standardise_rewards is False  # the preset's, as the authors'
    clipped = []
    for episode in range(4):
        batch = runner.run()
        critic = copy.deepcopy(learner.critic)
        target_critic = copy.deepcopy(learner.target_critic)
        learner.train(batch, episode, episode)
        total, expected = direct_norms(learner, critic, target_critic, batch)
        stats = learner.logger.stats
        assert stats["critic_grad_norm"][-1] == (episode, pytest.approx(total, rel=1e-5))
        logged = stats["critic_grad_norm_clipped_weights"][-1]
        assert logged == (episode, pytest.approx(expected, rel=1e-5))
        assert logged[1] <= learner.args.grad_norm_clip
        clipped.append(total > learner.args.grad_norm_clip)
    assert any(clipped) and not all(clipped), clipped  # both cases were checked


def test_never_exceeds_grad_norm_clip(smaclite_run):
    # the preset as it is (4 epochs) but a clip that every update hits
    learner, runner = smaclite_run(
        "mappo_sn", learner_log_interval=0, grad_norm_clip=0.05, env_args={"reward_scale": False}
    )
    for episode in range(4):
        learner.train(runner.run(), episode, episode)
    stats = learner.logger.stats
    before = [value for _, value in stats["critic_grad_norm"]]
    after = [value for _, value in stats["critic_grad_norm_clipped_weights"]]
    assert len(after) == 4 and min(before) > 0.05
    assert all(0 < value <= 0.05 for value in after)
