"""cv_critic_sn against EPyMARL's real CentralVCritic and torch.linalg."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from epymarl_sn.sn.layer import SNLinear


@pytest.fixture(autouse=True)
def seeded():
    """Critics' weights come from torch's global RNG: seeded, a test does not depend on
    which tests ran before it (one power iteration per step can miss k on a rare draw)."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def make_critic(preset_args):
    """make_critic(src, batch, **sn_keys) -> mappo_sn's critic with those SN keys."""

    def make(src, batch, **sn_keys):
        from modules.critics import REGISTRY

        args = preset_args(src, "mappo_sn", **sn_keys)
        return REGISTRY["cv_critic_sn"](batch.scheme, args)

    return make


def expected_layers(choice, depth):
    """Which 1-based layers `critic_sn` normalises, as the README's key table says."""
    named = {
        "full": set(range(1, depth + 1)),
        "mid": set(range(2, depth)),
        "last": {depth},
        "none": set(),
    }
    return named[choice] if isinstance(choice, str) else set(choice)


def choices(depth):
    return ["full", "mid", "last", "none", [1], [2], [1, depth]]


@pytest.fixture(scope="module")
def batch(epymarl_src, preset_args, random_batch):
    return random_batch(preset_args(epymarl_src, "mappo_sn"))


CASES = [(choice, depth) for depth in (2, 3, 4, 5) for choice in choices(depth)]


def train_briefly(critic, batch, steps=25):
    """Move the weights far from their initial values, then let the power iteration (one
    step per training-mode forward) catch up: during fast training its estimate lags,
    as torch's spectral_norm's does."""
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
    target = torch.randn(critic(batch).shape, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        loss = ((critic(batch) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for _ in range(60):
            critic(batch)


def sigma(weight):
    return torch.linalg.matrix_norm(weight.detach(), ord=2).item()


@pytest.mark.parametrize("choice,depth", CASES)
def test_normalises_exactly_the_chosen_layers(epymarl_src, batch, choice, depth, make_critic):
    critic = make_critic(epymarl_src, batch, critic_sn=choice, critic_layers=depth)

    layers = critic.layers
    assert len(layers) == depth
    assert [name for name, _ in critic.named_children()] == [f"fc{i}" for i in range(1, depth + 1)]
    assert {
        i for i, layer in enumerate(layers, 1) if isinstance(layer, SNLinear)
    } == expected_layers(choice, depth)
    assert all(type(layer) in (nn.Linear, SNLinear) for layer in layers)
    assert [layer.out_features for layer in layers] == [64] * (depth - 1) + [1]
    assert layers[0].in_features == critic._get_input_shape(batch.scheme)


@pytest.mark.parametrize("choice,depth", CASES)
@pytest.mark.parametrize("k", [1.0, 2.5])
def test_unclamped_layers_have_norm_k(epymarl_src, batch, choice, depth, k, make_critic):
    critic = make_critic(epymarl_src, batch, critic_sn=choice, critic_layers=depth, critic_sn_k=k)
    train_briefly(critic, batch)
    for i, layer in enumerate(critic.layers, 1):
        if i in expected_layers(choice, depth):
            assert sigma(layer.effective_weight()) == pytest.approx(k, rel=0.01)


@pytest.mark.parametrize("choice,depth", CASES)
@pytest.mark.parametrize("k", [0.3, 0.9, 10.0])
def test_clamped_layers_are_bounded_by_k_and_untouched_below_it(
    epymarl_src, batch, choice, depth, k, make_critic
):
    critic = make_critic(
        epymarl_src,
        batch,
        critic_sn=choice,
        critic_layers=depth,
        critic_sn_k=k,
        critic_sn_clamp=True,
    )
    train_briefly(critic, batch)
    for i, layer in enumerate(critic.layers, 1):
        if i not in expected_layers(choice, depth):
            continue
        effective = layer.effective_weight()
        assert sigma(effective) <= k * 1.01
        if sigma(layer.weight) <= k:
            assert torch.equal(effective, layer.weight)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_forward_is_the_relu_mlp_of_the_effective_weights(epymarl_src, batch, depth, make_critic):
    critic = make_critic(epymarl_src, batch, critic_sn="full", critic_layers=depth, critic_sn_k=0.7)
    train_briefly(critic, batch, steps=3)
    critic.eval()  # no power-iteration step: effective_weight() is what forward uses
    x, _, _ = critic._build_inputs(batch)
    for i, layer in enumerate(critic.layers, 1):
        x = F.linear(x, layer.effective_weight(), layer.bias)
        if i < depth:
            x = F.relu(x)
    assert torch.allclose(critic(batch), x, atol=1e-6)


@pytest.mark.parametrize(
    "individual_obs,last_action", [(False, False), (True, True), (False, True)]
)
def test_none_with_three_layers_is_cv_critic(
    epymarl_src, individual_obs, last_action, preset_args, random_batch, make_critic
):
    from modules.critics.centralV import CentralVCritic

    keys = dict(obs_individual_obs=individual_obs, obs_last_action=last_action)
    args = preset_args(epymarl_src, "mappo_paper", **keys)
    batch = random_batch(args)

    torch.manual_seed(7)
    plain = CentralVCritic(batch.scheme, args)
    rng_after_plain = torch.get_rng_state()
    torch.manual_seed(7)
    sn = make_critic(epymarl_src, batch, critic_sn="none", critic_layers=3, **keys)

    assert torch.equal(torch.get_rng_state(), rng_after_plain)
    plain_state, sn_state = plain.state_dict(), sn.state_dict()
    assert list(plain_state) == list(sn_state)
    assert all(torch.equal(plain_state[key], sn_state[key]) for key in plain_state)
    assert torch.equal(sn(batch), plain(batch))
    if not last_action:  # CentralVCritic itself fails on a single t with last actions
        for t in (0, 3):
            assert torch.equal(sn(batch, t=t), plain(batch, t=t))


def test_normalised_critic_starts_from_cv_critic_weights(
    epymarl_src, preset_args, random_batch, make_critic
):
    """SN adds no random draws: same seed, same raw weights as cv_critic, any layer choice."""
    from modules.critics.centralV import CentralVCritic

    args = preset_args(epymarl_src, "mappo_paper")
    batch = random_batch(args)
    torch.manual_seed(3)
    plain = CentralVCritic(batch.scheme, args)
    torch.manual_seed(3)
    sn = make_critic(epymarl_src, batch, critic_sn="full")
    for i, layer in enumerate(sn.layers, 1):
        assert torch.equal(layer.weight, getattr(plain, f"fc{i}").weight)
    assert not torch.allclose(sn(batch), plain(batch))
