"""SNLinear against torch.linalg and against the paper's gradient analysis (§IV, eq. 18).
Against torch's own spectral_norm, the authors' layer: test_authors_layer.py."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from epymarl_sn.sn.layer import SNLinear, raw_weight

from helpers import applied_weight, top_sigma


def estimate(layer):
    """The power iteration's estimate u^T W v of sigma, from the layer's buffers."""
    return torch.dot(layer.u, torch.mv(layer.raw_weight, layer.v))


def randomise_state(layer, seed):
    """Start the power iteration from other random vectors (a test's own draw)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.u.copy_(
            F.normalize(torch.randn(layer.u.shape, generator=g, dtype=layer.u.dtype), dim=0)
        )
        layer.v.copy_(
            F.normalize(torch.randn(layer.v.shape, generator=g, dtype=layer.v.dtype), dim=0)
        )


def test_same_initialisation_as_nn_linear_then_a_start_near_the_top_singular_value():
    torch.manual_seed(5)
    plain = nn.Linear(32, 64)
    after_plain = torch.get_rng_state()
    torch.manual_seed(5)
    sn = SNLinear(32, 64)
    assert torch.equal(sn.raw_weight, plain.weight) and torch.equal(sn.bias, plain.bias)
    # u and v are drawn after the weights (as torch's spectral_norm draws them)
    assert not torch.equal(torch.get_rng_state(), after_plain)
    # 16 power iterations from the draw: sigma's estimate is within a few per cent, from
    # below (2% on this draw: the top singular values of a fresh layer lie close together)
    sigma = top_sigma(plain.weight)
    assert 0.95 * sigma < sn.sigma().item() <= sigma * (1 + 1e-6)


@pytest.mark.parametrize("k", [0.5, 1.0, 3.0])
def test_unclamped_norm_is_exactly_k(k):
    torch.manual_seed(0)
    layer = SNLinear(32, 64, k=k)
    randomise_state(layer, seed=1)
    x = torch.randn(8, 32)
    # this layer's top two singular values are 5% apart: about 60 steps to sigma's 1e-6
    for _ in range(100):
        layer(x)
    assert top_sigma(applied_weight(layer)) == pytest.approx(k, rel=1e-3)
    # the forward uses the raw weight scaled to norm k
    weight = layer.raw_weight.detach()
    expected = x @ (weight * (k / top_sigma(weight))).t() + layer.bias
    assert torch.allclose(layer(x), expected, rtol=1e-3, atol=1e-6)


def test_clamped_norm_is_bounded_by_k_and_leaves_small_weights_alone():
    torch.manual_seed(0)
    layer = SNLinear(32, 64, clamp=True)
    sigma = top_sigma(layer.raw_weight)
    x = torch.randn(8, 32)

    layer.norm.k = 2 * sigma  # sigma <= k: W untouched
    assert torch.equal(layer(x), F.linear(x, layer.raw_weight, layer.bias))

    layer.norm.k = 0.5 * sigma  # sigma > k: scaled down to norm k
    for _ in range(100):  # from torch's random start: as above
        layer(x)
    assert top_sigma(applied_weight(layer)) == pytest.approx(0.5 * sigma, rel=1e-4)


def test_power_iterations_per_forward():
    torch.manual_seed(0)
    one, five = SNLinear(32, 64, power_iterations=1), SNLinear(32, 64, power_iterations=5)
    five.load_state_dict(one.state_dict())
    randomise_state(one, seed=2)
    five.load_state_dict(one.state_dict())
    start = one.u.clone()
    x = torch.randn(4, 32)
    five(x)
    assert not torch.allclose(five.u, start, atol=1e-3)
    for _ in range(5):
        one(x)
    assert torch.allclose(one.u, five.u, atol=1e-6) and torch.allclose(one.v, five.v, atol=1e-6)


def test_eval_mode_does_no_power_iteration():
    torch.manual_seed(0)
    layer = SNLinear(32, 64)
    randomise_state(layer, seed=3)
    u, v = layer.u.clone(), layer.v.clone()
    layer.eval()
    layer(torch.randn(4, 32))
    assert torch.equal(layer.u, u) and torch.equal(layer.v, v)
    layer.train()
    layer(torch.randn(4, 32))
    assert not torch.equal(layer.u, u)


def test_state_dict_and_deepcopy_carry_the_power_iteration_state():
    torch.manual_seed(0)
    layer = SNLinear(32, 64)
    randomise_state(layer, seed=4)
    x = torch.randn(4, 32)
    layer(x)
    # torch's parametrization's names: the raw weight, then u and v
    assert list(layer.state_dict()) == [
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    ]
    assert [name for name, _ in layer.named_parameters()] == [
        "bias",
        "parametrizations.weight.original",
    ]

    clone = copy.deepcopy(layer)
    assert clone.u.data_ptr() != layer.u.data_ptr()
    torch.manual_seed(1)
    fresh = SNLinear(32, 64)
    fresh.load_state_dict(layer.state_dict())
    expected = [layer(x) for _ in range(3)]  # each training forward steps u, v on
    for other in (clone, fresh):
        assert all(torch.equal(other(x), out) for out in expected)


def bias_free_mlps(widths, normalised, k, clamp, stop_grad):
    """A bias-free ReLU MLP with SN on `normalised` (1-based) and its plain twin."""
    torch.manual_seed(0)
    sn_layers, plain_layers = [], []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:]), start=1):
        if i in normalised:
            layer = SNLinear(n_in, n_out, bias=False, k=k, clamp=clamp, stop_grad=stop_grad)
            randomise_state(layer, seed=i)  # the estimate need not be exact for eq. 18
        else:
            layer = nn.Linear(n_in, n_out, bias=False)
        twin = nn.Linear(n_in, n_out, bias=False)
        twin.weight.data.copy_(raw_weight(layer).data)
        sn_layers.append(layer)
        plain_layers.append(twin)

    def relu_between(layers):
        mods = []
        for layer in layers:
            mods += [layer, nn.ReLU()]
        return nn.Sequential(*mods[:-1]).double()

    return relu_between(sn_layers), relu_between(plain_layers)


WIDTHS = [6, 16, 16, 16, 1]


@pytest.mark.parametrize("normalised", [{1, 2, 3, 4}, {2, 3}, {4}, {1, 3}])
@pytest.mark.parametrize("k,clamp", [(1.0, False), (2.5, False), (0.4, True)])
def test_stop_grad_gradients_are_the_plain_gradients_scaled_eq18(normalised, k, clamp):
    sn, plain = bias_free_mlps(WIDTHS, normalised, k, clamp, stop_grad=True)
    x = torch.randn(32, WIDTHS[0], dtype=torch.float64)
    upstream = torch.randn(32, 1, dtype=torch.float64)

    sn_out = sn(x)
    sn_out.backward(upstream)
    plain_out = plain(x)
    plain_out.backward(upstream)

    sn_linears = [m for m in sn if isinstance(m, nn.Linear)]
    # each normalised layer's factor k / sigma (at most 1 when clamped), sigma the
    # estimate its forward used
    scale = 1.0
    for layer in sn_linears:
        if isinstance(layer, SNLinear):
            factor = k / estimate(layer).item()
            scale *= min(factor, 1.0) if clamp else factor
    assert scale != pytest.approx(1.0, abs=1e-3)  # the case tests something
    # eq. 15: the SN network is the plain one scaled by k^-1; eq. 18: so is every gradient
    assert torch.allclose(sn_out, scale * plain_out, rtol=1e-10, atol=0)
    plain_linears = [m for m in plain if isinstance(m, nn.Linear)]
    for layer, twin in zip(sn_linears, plain_linears):
        assert torch.allclose(
            raw_weight(layer).grad, scale * twin.weight.grad, rtol=1e-9, atol=1e-14
        )


@pytest.mark.parametrize("normalised", [{1, 2, 3, 4}, {2, 3}, {4}])
def test_gradient_through_sigma_adds_miyatos_term(normalised):
    """With stop_grad False, each normalised W gets the extra term through sigma = u^T W v:
    dL/dW = s (G - <G, W> / sigma * u v^T), G = dL/dW_hat, s = k / sigma (Miyato et al.)."""
    k = 1.5
    stopped, _ = bias_free_mlps(WIDTHS, normalised, k, clamp=False, stop_grad=True)
    through, _ = bias_free_mlps(WIDTHS, normalised, k, clamp=False, stop_grad=False)
    x = torch.randn(32, WIDTHS[0], dtype=torch.float64)
    upstream = torch.randn(32, 1, dtype=torch.float64)
    stopped(x).backward(upstream)
    through(x).backward(upstream)

    pairs = [(a, b) for a, b in zip(stopped, through) if isinstance(a, nn.Linear)]
    # every layer is compared, the normalised ones among them
    assert len(pairs) == len(WIDTHS) - 1
    assert sum(isinstance(a, SNLinear) for a, _ in pairs) == len(normalised)
    for a, b in pairs:
        grad_a, grad_b = raw_weight(a).grad, raw_weight(b).grad
        if not isinstance(a, SNLinear):
            assert torch.allclose(grad_a, grad_b, rtol=1e-12)
            continue
        sigma = estimate(a).detach()
        G = grad_a / (k / sigma)  # stopped gradient is s * G
        term = -(k / sigma) * (G * a.raw_weight).sum() / sigma * torch.outer(a.u, a.v)
        difference = grad_b - grad_a
        assert difference.norm() > 1e-3 * grad_a.norm()
        assert torch.allclose(difference, term, rtol=1e-8, atol=1e-14)
