"""cv_critic_sn inside EPyMARL's real PPO learners and real `src/main.py` runs."""

import logging
import math
import shutil

import pytest
import torch

from epymarl_sn.sn.layer import SNLinear, raw_weight

from helpers import (
    RWARE_TINY,
    applied_weight,
    old_sn_layout,
    preset_args,
    random_batch,
    top_sigma,
)


def make_learner(src, preset, seed=0, **overrides):
    """The preset's learner, with a real MAC."""
    from controllers import REGISTRY as macs
    from learners import REGISTRY as learners
    from utils.logging import Logger

    args = preset_args(src, preset, **overrides)
    scheme = random_batch(args).scheme
    torch.manual_seed(seed)
    mac = macs[args.mac](scheme, {"agents": args.n_agents}, args)
    return learners[args.learner](mac, scheme, Logger(logging.getLogger("sn-test")), args)


def train(learner, steps, first_t=0, seed=0):
    """That many updates on random batches."""
    for i in range(steps):
        learner.train(random_batch(learner.args, seed=seed + i), first_t + 1000 * i, i)


def sn_layers(critic):
    return [m for m in critic.modules() if isinstance(m, SNLinear)]


def test_stock_ppo_learner_target_critic_and_soft_updates(epymarl_src):
    from learners.ppo_learner import PPOLearner

    learner = make_learner(epymarl_src, "mappo_fullsn", learner="ppo_learner")
    critic, target = learner.critic, learner.target_critic
    assert type(learner) is PPOLearner
    assert len(sn_layers(critic)) == len(sn_layers(target)) == 3
    # the deepcopy has its own power-iteration state
    for a, b in zip(sn_layers(critic), sn_layers(target)):
        assert a.u.data_ptr() != b.u.data_ptr() and torch.equal(a.u, b.u)
    # soft updates and Adam see the raw weights and biases, never u and v
    assert {name for name, _ in critic.named_parameters()} == {
        f"fc{i}.{p}" for i in (1, 2, 3) for p in ("bias", "parametrizations.weight.original")
    }

    train(learner, 3)
    before = [p.detach().clone() for p in target.parameters()]
    # the target and the critic line up parameter for parameter (zip would stop short)
    assert len(before) == len(list(critic.parameters())) == 6
    train(learner, 1, first_t=3000, seed=3)
    tau = learner.args.target_update_interval_or_tau
    for old, new, online in zip(before, target.parameters(), critic.parameters()):
        assert torch.allclose(new, (1 - tau) * old + tau * online, atol=1e-7)
    # the target is itself normalised: its power iteration follows its own weights
    for a, b in zip(sn_layers(critic), sn_layers(target)):
        assert not torch.equal(a.v, b.v)
        assert top_sigma(applied_weight(b)) == pytest.approx(1.0, rel=0.01)


def test_hard_target_updates_copy_the_power_iteration_state(epymarl_src):
    learner = make_learner(epymarl_src, "mappo_midsn", target_update_interval_or_tau=2)
    train(learner, 2)
    critic_state, target_state = learner.critic.state_dict(), learner.target_critic.state_dict()
    assert "fc2.parametrizations.weight.0._u" in target_state
    assert all(torch.equal(critic_state[k], target_state[k]) for k in critic_state)


@pytest.mark.parametrize("learner_name", ["ppo_learner", "ppo_sn_learner"])
def test_save_and_load_restore_outputs_and_power_iteration_state(
    epymarl_src, tmp_path, learner_name
):
    saved = make_learner(epymarl_src, "mappo_fullsn", seed=0, learner=learner_name)
    train(saved, 3)
    saved.save_models(str(tmp_path))
    state = torch.load(tmp_path / "critic.th")
    assert {f"fc{i}.parametrizations.weight.0.{x}" for i in (1, 3) for x in ("_u", "_v")} <= set(
        state
    )

    batch = random_batch(saved.args, seed=99)
    expected = [saved.critic(batch) for _ in range(3)]  # training mode: u, v step on

    loaded = make_learner(epymarl_src, "mappo_fullsn", seed=1, learner=learner_name)
    assert not torch.equal(loaded.critic(batch), expected[0])
    loaded = make_learner(epymarl_src, "mappo_fullsn", seed=1, learner=learner_name)
    loaded.load_models(str(tmp_path))
    assert all(torch.equal(loaded.critic(batch), out) for out in expected)
    assert torch.equal(loaded.target_critic(batch), expected[0])

    # the power-iteration state matters: the weights alone do not give the same outputs
    weights_only = make_learner(epymarl_src, "mappo_fullsn", seed=1, learner=learner_name)
    weights_only.critic.load_state_dict(
        {k: v for k, v in state.items() if not k.endswith(("._u", "._v"))}, strict=False
    )
    assert not torch.allclose(weights_only.critic(batch), expected[0], rtol=1e-6, atol=0)


def test_sn_learner_logs_diagnostics_at_the_learner_log_interval(epymarl_src):
    learner = make_learner(epymarl_src, "mappo_fullsn", learner_log_interval=1000)
    for t in (0, 400, 800, 1000, 1500):
        learner.train(random_batch(learner.args, seed=t), t, 0)
    stats = learner.logger.stats
    logged_at = [t for t, _ in stats["critic_grad_norm"]]
    assert logged_at == [0, 1000]
    keys = [f"critic_sigma_layer{i}" for i in (1, 2, 3)] + ["critic_grad_scale"]
    for key in keys:
        assert [t for t, _ in stats[key]] == logged_at
    assert "critic_sigma_layer4" not in stats

    # values: sigma of each raw weight; grad scale = product of the factors k / sigma
    # (k = 1) the layers apply after the update, sigma their power-iteration estimate
    learner.train(random_batch(learner.args, seed=1), 2000, 0)
    layers = learner.critic.layers
    sigmas = [top_sigma(raw_weight(layer)) for layer in layers]
    for i, value in enumerate(sigmas, 1):
        assert stats[f"critic_sigma_layer{i}"][-1][1] == pytest.approx(value, rel=1e-5)
    with torch.no_grad():
        # u^T W v from the buffers (the diagnostics read the layers' own weight_scale)
        estimates = [
            torch.dot(layer.u, torch.mv(raw_weight(layer), layer.v)).item() for layer in layers
        ]
    assert stats["critic_grad_scale"][-1][1] == pytest.approx(1 / math.prod(estimates), rel=1e-6)
    # the estimates follow the exact sigmas (each <= sigma: u^T W v for unit u, v)
    assert all(0.5 * s < e <= s * (1 + 1e-5) for e, s in zip(estimates, sigmas))


def test_sn_learner_logs_sigmas_of_an_unnormalised_critic(epymarl_src):
    learner = make_learner(epymarl_src, "mappo_paper", learner="ppo_sn_learner")
    train(learner, 1)
    stats = learner.logger.stats
    assert stats["critic_grad_scale"][-1][1] == 1.0
    assert stats["critic_sigma_layer3"][-1][1] == pytest.approx(
        top_sigma(learner.critic.fc3.weight)
    )


def metric(run, key):
    return run.metrics[key]["steps"], run.metrics[key]["values"]


def test_lastsn_trains_end_to_end_and_sacred_holds_the_diagnostics(run_main):
    result = run_main("--config=mappo_lastsn", *RWARE_TINY, "seed=2")

    assert result.proc.returncode == 0, result.output[-3000:]
    (run,) = result.runs
    assert run.run["status"] == "COMPLETED"
    config = run.config
    assert (config["critic_type"], config["critic_sn"], config["learner"]) == (
        "cv_critic_sn",
        "last",
        "ppo_sn_learner",
    )
    assert config["standardise_returns"] is True

    steps, _ = metric(run, "critic_grad_norm")
    assert len(steps) >= 2
    for key in [
        "critic_sigma_layer1",
        "critic_sigma_layer2",
        "critic_sigma_layer3",
        "critic_grad_scale",
    ]:
        assert metric(run, key)[0] == steps, key
    assert "critic_sigma_layer4" not in run.metrics
    # LastSN, k = 1: the gradient scale is 1 / sigma of the last layer
    _, scales = metric(run, "critic_grad_scale")
    _, last_sigmas = metric(run, "critic_sigma_layer3")
    for scale, last_sigma in zip(scales, last_sigmas):
        assert scale == pytest.approx(1 / last_sigma, rel=0.01)


def test_stock_ppo_learner_saves_and_resumes_from_checkpoint(run_main, tmp_path):
    out = tmp_path / "out"
    sn_paper = (
        "--config=mappo_sn",
        *RWARE_TINY,
        "learner=ppo_learner",
        f"local_results_path={out}",
        "save_model=True",
        "save_model_interval=1000",
    )
    first = run_main(*sn_paper)
    assert first.proc.returncode == 0, first.output[-3000:]
    assert first.runs[0].config["learner"] == "ppo_learner"
    (token,) = (out / "models").iterdir()
    saved_steps = sorted(int(p.name) for p in token.iterdir())
    state = torch.load(token / str(saved_steps[-1]) / "critic.th")
    assert {"fc2.parametrizations.weight.0._u", "fc2.parametrizations.weight.0._v"} <= set(state)
    assert "fc1.weight" in state and "fc1.parametrizations.weight.0._u" not in state

    resumed = run_main(*sn_paper, f"checkpoint_path={token}", f"t_max={saved_steps[-1] + 1000}")
    assert resumed.proc.returncode == 0, resumed.output[-3000:]
    assert f"Loading model from {token / str(saved_steps[-1])}" in resumed.output
    run = resumed.runs[-1]
    assert run.run["status"] == "COMPLETED"
    assert min(metric(run, "critic_grad_norm")[0]) > saved_steps[-1]


def test_a_model_saved_by_the_old_sn_layer_is_refused_in_one_line(run_main, tmp_path):
    out = tmp_path / "out"
    sn_paper = ("--config=mappo_sn", *RWARE_TINY, f"local_results_path={out}")
    first = run_main(*sn_paper, "save_model=True", "save_model_interval=1000")
    assert first.proc.returncode == 0, first.output[-3000:]
    (token,) = (out / "models").iterdir()
    old = shutil.copytree(token, tmp_path / "old")
    steps = sorted(int(p.name) for p in old.iterdir())
    for step in steps:
        critic = old / str(step) / "critic.th"
        state = old_sn_layout(torch.load(critic))
        assert {"fc2.weight", "fc2.u", "fc2.v"} <= set(state), "mappo_sn normalises fc2"
        torch.save(state, critic)

    for load_step in (0, steps[0]):  # the last save, and one that load_step picks
        refused = run_main(*sn_paper, f"checkpoint_path={old}", f"load_step={load_step}")
        assert refused.proc.returncode != 0, refused.output[-3000:]
        assert "Traceback" not in refused.output and "Beginning training" not in refused.output
        critic = old / str(steps[-1] if load_step == 0 else load_step) / "critic.th"
        assert refused.proc.stderr.strip().splitlines()[-1] == (
            f"error: checkpoint_path: {critic} was saved by an older SN layer (fc2.weight, "
            "fc2.u, fc2.v: SNLinear before commit 92e6459, which made it torch's "
            "spectral-norm parametrization, fc2.parametrizations.weight.original, ...); "
            "allowed: models saved by epymarl-sn since commit 92e6459; train the model "
            "again, or load it with the epymarl-sn that saved it (before commit 92e6459)"
        )
        assert len(refused.runs) == 1, "no run started"

    # the same weights as this version saved them load (and evaluate)
    loaded = run_main(*sn_paper, f"checkpoint_path={token}", "evaluate=True")
    assert loaded.proc.returncode == 0, loaded.output[-3000:]
    assert f"Loading model from {token / str(steps[-1])}" in loaded.output


@pytest.mark.parametrize(
    "override,key",
    [
        ("critic_sn=middle", "critic_sn"),
        ("critic_sn=[0]", "critic_sn"),
        ("critic_sn=[4]", "critic_sn"),
        ("critic_sn_k=0", "critic_sn_k"),
        ("critic_sn_power_iterations=0", "critic_sn_power_iterations"),
        ("critic_layers=1", "critic_layers"),
    ],
)
def test_bad_sn_values_stop_the_run_before_training(run_main, override, key):
    result = run_main("--config=mappo_sn", *RWARE_TINY, override)

    assert result.proc.returncode == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"error: {key}: "), result.output[-2000:]
    assert "Traceback" not in result.output
    assert "Beginning training" not in result.output
