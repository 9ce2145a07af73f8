"""cv_critic_sn against EPyMARL's real CentralVCritic and torch.linalg."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from epymarl_sn.sn.layer import SNLinear, raw_weight

from helpers import applied_weight, preset_args, random_batch, top_sigma


@pytest.fixture(autouse=True)
def seeded():
    """Critics' weights come from torch's global RNG: seeded, a test does not depend on
    which tests ran before it (one power iteration per step can miss k on a rare draw)."""
    torch.manual_seed(0)


def make_critic(src, batch, **sn_keys):
    """mappo_sn's critic with those SN keys."""
    from modules.critics import REGISTRY

    args = preset_args(src, "mappo_sn", **sn_keys)
    return REGISTRY["cv_critic_sn"](batch.scheme, args)


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
def batch(epymarl_src):
    return random_batch(preset_args(epymarl_src, "mappo_sn"))


CASES = [(choice, depth) for depth in (2, 3, 4, 5) for choice in choices(depth)]
# the cases that normalise at least one layer: the tests of the norm k train these
NORMALISING = [case for case in CASES if expected_layers(*case)]
NORMALISING_NONE = [case for case in CASES if not expected_layers(*case)]


def test_the_cases_that_normalise_nothing_are_none_and_mid_of_two_layers():
    assert [("mid", 2)] + [("none", depth) for depth in (2, 3, 4, 5)] == NORMALISING_NONE


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


def assert_raw(layer):
    """The layer's forward applies its raw weight."""
    assert torch.allclose(applied_weight(layer), raw_weight(layer), rtol=0, atol=1e-6)


def assert_scaled_to(layer, k):
    """The layer's forward applies its raw weight scaled to spectral norm k (within the
    power iteration's 1%; atol: applied_weight takes the bias away, which leaves float32
    rounding of the bias's size on near-zero weights)."""
    applied, weight = applied_weight(layer), raw_weight(layer).detach()
    assert top_sigma(applied) == pytest.approx(k, rel=0.01)
    assert torch.allclose(applied, weight * (k / top_sigma(weight)), rtol=0.01, atol=1e-6)


@pytest.mark.parametrize("choice,depth", CASES)
def test_normalises_exactly_the_chosen_layers(epymarl_src, batch, choice, depth):
    critic = make_critic(epymarl_src, batch, critic_sn=choice, critic_layers=depth)

    layers = critic.layers
    assert len(layers) == depth
    assert [name for name, _ in critic.named_children()] == [f"fc{i}" for i in range(1, depth + 1)]
    assert {
        i for i, layer in enumerate(layers, 1) if isinstance(layer, SNLinear)
    } == expected_layers(choice, depth)
    # an SNLinear's class is torch's parametrized subclass of it
    assert all(type(layer) is nn.Linear or isinstance(layer, SNLinear) for layer in layers)
    assert [layer.out_features for layer in layers] == [64] * (depth - 1) + [1]
    assert layers[0].in_features == critic._get_input_shape(batch.scheme)


@pytest.mark.parametrize("choice,depth", NORMALISING_NONE)
def test_no_layer_is_normalised_when_none_is_chosen(epymarl_src, batch, choice, depth):
    critic = make_critic(epymarl_src, batch, critic_sn=choice, critic_layers=depth, critic_sn_k=0.3)
    train_briefly(critic, batch, steps=3)
    assert len(critic.layers) == depth
    for layer in critic.layers:
        assert top_sigma(raw_weight(layer)) > 0.3 * 1.5  # so a normalised layer would show
        assert_raw(layer)


@pytest.mark.parametrize("choice,depth", NORMALISING)
@pytest.mark.parametrize("k", [1.0, 2.5])
def test_unclamped_layers_have_norm_k(epymarl_src, batch, choice, depth, k):
    critic = make_critic(epymarl_src, batch, critic_sn=choice, critic_layers=depth, critic_sn_k=k)
    train_briefly(critic, batch)
    normalised = expected_layers(choice, depth)
    for i, layer in enumerate(critic.layers, 1):
        if i in normalised:
            assert_scaled_to(layer, k)
        else:
            assert_raw(layer)


@pytest.mark.parametrize("choice,depth", NORMALISING)
# k = 0.3 is below every trained layer's norm (each is scaled down to k), 10 above every
# one (each left alone); the mixed case is the next test
@pytest.mark.parametrize("k,below_k", [(0.3, "no_layer"), (10.0, "every_layer")])
def test_clamped_layers_are_bounded_by_k_and_untouched_below_it(
    epymarl_src, batch, choice, depth, k, below_k
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
    normalised = expected_layers(choice, depth)
    below = {i for i in normalised if top_sigma(raw_weight(critic.layers[i - 1])) <= k}
    assert below == (set() if below_k == "no_layer" else normalised)
    for i, layer in enumerate(critic.layers, 1):
        if i in below or i not in normalised:
            assert_raw(layer)
        else:
            assert_scaled_to(layer, k)


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_a_clamp_between_two_layers_norms_scales_one_and_leaves_the_other(
    epymarl_src, batch, depth
):
    # trained (seeded), the first layer's norm is 1.7-2.3 and the last one's 0.6-1.4
    critic = make_critic(
        epymarl_src,
        batch,
        critic_sn=[1, depth],
        critic_layers=depth,
        critic_sn_k=1.5,
        critic_sn_clamp=True,
    )
    train_briefly(critic, batch)
    first, last = critic.layers[0], critic.layers[-1]
    assert top_sigma(raw_weight(first)) > 1.5 >= top_sigma(raw_weight(last))
    assert_scaled_to(first, 1.5)
    assert_raw(last)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_forward_is_the_relu_mlp_of_the_normalised_weights(epymarl_src, batch, depth):
    critic = make_critic(epymarl_src, batch, critic_sn="full", critic_layers=depth, critic_sn_k=0.7)
    train_briefly(critic, batch, steps=3)
    critic.eval()  # no power-iteration step
    x, _, _ = critic._build_inputs(batch)
    for i, layer in enumerate(critic.layers, 1):
        weight = raw_weight(layer).detach()
        x = F.linear(x, weight * (0.7 / top_sigma(weight)), layer.bias)
        if i < depth:
            x = F.relu(x)
    assert torch.allclose(critic(batch), x, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    "individual_obs,last_action", [(False, False), (True, True), (False, True)]
)
def test_none_with_three_layers_is_cv_critic(epymarl_src, individual_obs, last_action):
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


@pytest.mark.parametrize("choice", ["full", "mid", "last"])
def test_normalised_critic_draws_u_v_after_its_layer_as_the_authors_did(epymarl_src, choice):
    """Same seed as cv_critic: the same raw weights up to the first normalised layer
    included; its u, v are drawn next (torch's spectral_norm, which the authors' critic
    applies to each layer as it makes it), so every later layer's weights differ."""
    from modules.critics.centralV import CentralVCritic

    args = preset_args(epymarl_src, "mappo_paper")
    batch = random_batch(args)
    torch.manual_seed(3)
    plain = CentralVCritic(batch.scheme, args)
    torch.manual_seed(3)
    sn = make_critic(epymarl_src, batch, critic_sn=choice)
    first = min(expected_layers(choice, 3))
    for i, layer in enumerate(sn.layers, 1):
        same = torch.equal(raw_weight(layer), getattr(plain, f"fc{i}").weight)
        assert same == (i <= first), i
