"""ppo_sn_learner's numbers equal EPyMARL's ppo_learner's bit for bit (and fused_gru's
stay close), on real episodes collected by EPyMARL's own runner; `fused_gru` is checked
before a run."""

import copy
import logging
import struct
from types import SimpleNamespace

import pytest
import torch

from epymarl_sn import plugin
from epymarl_sn.resources import main_config
from epymarl_sn.sn.config import check_learner_config

from helpers import RWARE_TINY

RWARE = ("gymma", {"key": "rware:rware-tiny-2ag-v2", "time_limit": 30, "pretrained_wrapper": None})
# battles that end at different steps (padded steps, mask 0) with unavailable actions
SMACLITE = ("smaclite_sparse", {"map_name": "2s3z", "use_cpp_rvo2": False, "time_limit": 40})


@pytest.fixture(scope="module")
def episodes(epymarl_src):
    """episodes(env, preset, **overrides) -> (args, collect): the preset as run.py sets it
    up on a real env (EpisodeRunner, one env); collect(mac, n) is a batch of n episodes
    that `mac` played, as run.py samples it from its buffer."""
    from components.episode_buffer import ReplayBuffer
    from components.transforms import OneHot
    from runners import REGISTRY as runners
    from utils.logging import Logger

    made = []

    def make(env, preset, **overrides):
        env_name, env_args = env
        config = main_config(epymarl_src.parent, env_name, preset)
        config["env_args"].update(seed=1, **env_args)
        config.update(runner="episode", batch_size_run=1, use_cuda=False, device="cpu")
        config.update(overrides)
        args = SimpleNamespace(**config)
        runner = runners[args.runner](args=args, logger=Logger(logging.getLogger("fast")))
        made.append(runner)
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
        limit = info["episode_limit"] + 1

        def collect(mac, n):
            runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
            buffer = ReplayBuffer(scheme, groups, n, limit, preprocess=preprocess)
            for _ in range(n):
                buffer.insert_episode_batch(runner.run(test_mode=False))
            batch = buffer.sample(n)
            return batch[:, : batch.max_t_filled()]

        args.scheme = ReplayBuffer(scheme, groups, 1, limit, preprocess=preprocess).scheme
        return args, collect

    yield make
    for runner in made:
        runner.close_env()


def build(name, args, **overrides):
    """Learner `name` on a fresh MAC; the same seed gives the same initial state."""
    from controllers import REGISTRY as macs
    from learners import REGISTRY as learners
    from utils.logging import Logger

    args = SimpleNamespace(**{**vars(args), **overrides})
    torch.manual_seed(0)
    mac = macs[args.mac](args.scheme, {"agents": args.n_agents}, args)
    return learners[name](mac, args.scheme, Logger(logging.getLogger("fast")), args)


def tensors(learner):
    """Every tensor of a learner's state: all networks, their buffers, both optimisers."""
    out = {}
    for name in ("mac", "old_mac"):
        for key, value in getattr(learner, name).agent.state_dict().items():
            out[f"{name}.{key}"] = value
    for name in ("critic", "target_critic"):
        for key, value in getattr(learner, name).state_dict().items():
            out[f"{name}.{key}"] = value
    for name in ("agent_optimiser", "critic_optimiser"):
        for i, state in getattr(learner, name).state_dict()["state"].items():
            for key, value in state.items():
                out[f"{name}.{i}.{key}"] = torch.as_tensor(value)
    for name in ("ret_ms", "rew_ms"):
        if hasattr(learner, name):
            stats = getattr(learner, name)
            out[f"{name}.mean"], out[f"{name}.var"] = stats.mean, stats.var
            out[f"{name}.count"] = torch.as_tensor(stats.count)
    return out


def bits(value):
    return struct.pack("<d", float(value))  # -0.0 and 0.0 differ; NaN equals NaN


LOCKSTEP = {
    "mappo_paper, RWARE": (RWARE, "mappo_paper", {}),
    "mappo_sn, RWARE": (RWARE, "mappo_sn", {}),
    # last actions in the inputs, both running statistics, hard target updates,
    # returns longer than the episodes, no bootstrap at the last step
    "mappo_lastsn, RWARE, every branch": (
        RWARE,
        "mappo_lastsn",
        {
            "obs_last_action": True,
            "standardise_rewards": True,
            "target_update_interval_or_tau": 2,
            "q_nstep": 50,
            "add_value_last_step": False,
        },
    ),
    "mappo_paper, SMAClite": (SMACLITE, "mappo_paper", {}),
    "mappo_sn, SMAClite": (SMACLITE, "mappo_sn", {}),
}


@pytest.mark.parametrize(
    "case,loaded",
    [(case, False) for case in LOCKSTEP]
    + [("mappo_paper, RWARE", True), ("mappo_sn, SMAClite", True)],
    ids=lambda value: {True: "mac loaded", False: "as made"}.get(value, value),
)
def test_every_number_equals_ppo_learners(episodes, case, loaded):
    env, preset, overrides = LOCKSTEP[case]
    args, collect = episodes(env, preset, **overrides)
    # logging at some updates only: the learners must agree on when too
    stock = build("ppo_learner", args, learner_log_interval=2)
    fast = build("ppo_sn_learner", args, learner_log_interval=2)
    assert not fast.fused_gru
    if loaded:
        # EPyMARL's load_models loads mac, not old_mac: the first update's old policy
        # is then old_mac's own
        for learner in (stock, fast):
            with torch.no_grad():
                for param in learner.mac.parameters():
                    param.mul_(1.5)
    padded, unavailable = [], []
    for update in range(3):
        batch = collect(stock.mac, 3)
        padded.append(bool((batch["filled"] == 0).any()))
        unavailable.append(bool((batch["avail_actions"] == 0).any()))
        stock.train(batch, update, update)
        fast.train(copy.deepcopy(batch), update, update)
        expected, got = tensors(stock), tensors(fast)
        assert expected.keys() == got.keys()
        differ = [key for key in expected if not torch.equal(expected[key], got[key])]
        assert not differ, f"update {update}: {differ}"
    # SMAClite's battles end apart (padded steps, mask 0) and mask actions
    assert any(padded) == any(unavailable) == (env is SMACLITE), (padded, unavailable)
    logged = stock.logger.stats
    assert len(logged["pg_loss"]) == 2  # updates 0 and 2
    for key, values in logged.items():
        assert [(t, bits(v)) for t, v in values] == [
            (t, bits(v)) for t, v in fast.logger.stats[key]
        ], key


def relative(a, b):
    return ((a - b).abs().max() / a.abs().max()).item()


def test_fused_gru_stays_close_to_ppo_learner(episodes):
    args, collect = episodes(RWARE, "mappo_paper")
    stock = build("ppo_learner", args, learner_log_interval=0)
    fused = build("ppo_sn_learner", args, learner_log_interval=0, fused_gru=True)
    params, stats = [], []
    for update in range(3):
        batch = collect(stock.mac, 3)
        stock.train(batch, update, update)
        rng = torch.get_rng_state()
        fused.train(batch, update, update)
        # the nn.GRU (made at the first update) draws no random numbers: a run's actions
        # come from the same random stream
        assert torch.equal(rng, torch.get_rng_state())
        params.append(
            max(relative(a, b) for a, b in zip(stock.mac.parameters(), fused.mac.parameters()))
        )
        stats.append(
            max(
                abs(values[-1][1] - fused.logger.stats[key][-1][1]) / abs(values[-1][1])
                for key, values in stock.logger.stats.items()
                if values[-1][1] != 0
            )
        )
    # an nn.GRU sums the GRU's gradients in another order: close, not equal
    # (docs/benchmarks_learner.md measures how close)
    assert 0 < max(params) < 1e-4, params
    assert max(stats) < 1e-3, stats


@pytest.mark.parametrize(
    "config",
    [
        {"fused_gru": "yes"},
        {"fused_gru": 1},
        {"fused_gru": None},
        {"fused_gru": True, "agent": "rnn_ns"},
        {"fused_gru": True, "use_rnn": False},
        {"fused_gru": True, "mac": "non_shared_mac"},
    ],
)
def test_bad_fused_gru_is_one_clear_line(config):
    assert check_learner_config in plugin.CHECKS
    with pytest.raises(ValueError) as err:
        plugin.check_config({"mac": "basic_mac", "agent": "rnn", "use_rnn": True, **config})
    message = str(err.value)
    assert message.startswith("fused_gru: ") and "\n" not in message
    assert "allowed:" in message and "fused_gru=False" in message


def test_fused_gru_values_that_pass():
    check_learner_config({})
    check_learner_config({"fused_gru": False, "agent": "rnn_ns"})
    check_learner_config({"fused_gru": True, "mac": "basic_mac", "agent": "rnn", "use_rnn": True})


def test_bad_fused_gru_stops_a_run_before_training(run_main):
    result = run_main("--config=mappo_paper", *RWARE_TINY, "fused_gru=yes", timeout=300)
    output = result.output
    assert result.proc.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: fused_gru: 'yes'"), output
    assert "Traceback" not in output
