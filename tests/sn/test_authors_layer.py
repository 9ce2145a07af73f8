"""SNLinear and cv_critic_sn against the authors' own layer, value for value.

The authors' critic (kinalmehta/epymarl_spectral, src_spectral/modules/critics/
centralV.py) builds each layer as an nn.Linear and, when chosen, wraps it at once in
torch's `torch.nn.utils.parametrizations.spectral_norm` (its defaults: one power
iteration, eps 1e-12). The reference below is that definition, written here from torch's
public API. Every comparison is torch.equal: same bits, not close.
"""

import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from epymarl_sn.sn.layer import SNLinear

from helpers import preset_args, random_batch

STEPS = 300
ROUND_TRIP_AT = (100, 200)


def authors_layer(n_in, n_out, normalised, power_iterations=1):
    layer = nn.Linear(n_in, n_out)
    return spectral_norm(layer, n_power_iterations=power_iterations) if normalised else layer


def authors_critic(scheme, args, critic_spectral):
    """The authors' CentralVCritic: EPyMARL's inputs and forward, its layers made in the
    authors' order (fc1, its wrap, fc2, its wrap, fc3, its wrap); `critic_spectral` is
    their key, e.g. "nyn" for MidSN."""
    from modules.critics.centralV import CentralVCritic

    class AuthorsCritic(CentralVCritic):
        def __init__(self):
            nn.Module.__init__(self)
            self.args = args
            self.n_actions = args.n_actions
            self.n_agents = args.n_agents
            self.output_type = "v"
            widths = [self._get_input_shape(scheme), args.hidden_dim, args.hidden_dim, 1]
            for i, flag in enumerate(critic_spectral, 1):
                self.add_module(f"fc{i}", authors_layer(widths[i - 1], widths[i], flag == "y"))

    return AuthorsCritic()


def assert_same_state(ours, theirs):
    """Same parameters (same names, same order), same u, v, same gradients."""
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key in theirs_state:
        assert torch.equal(ours_state[key], theirs_state[key]), key
    ours_params, theirs_params = list(ours.named_parameters()), list(theirs.named_parameters())
    assert [name for name, _ in ours_params] == [name for name, _ in theirs_params]
    for (name, a), (_, b) in zip(ours_params, theirs_params):
        assert (a.grad is None) == (b.grad is None), name
        assert a.grad is None or torch.equal(a.grad, b.grad), name


def reloaded(module, make, state):
    """A fresh module (made from another seed) with `state` loaded into it."""
    torch.manual_seed(12345)
    fresh = make()
    assert not torch.equal(next(iter(fresh.state_dict().values())), next(iter(state.values())))
    fresh.load_state_dict(state)
    fresh.train(module.training)
    return fresh


def lockstep(ours, theirs, make_ours, make_theirs, inputs, loss_of, clip=None):
    """Train both with Adam for STEPS steps on the same inputs, asserting equality after
    every forward, backward and step, in training mode, in eval mode (every 10 steps)
    and of deepcopies (every 50). At ROUND_TRIP_AT each is replaced by a fresh one
    loaded from a checkpoint: once its own state_dict, once the other one's (the keys
    are the same). Returns how many steps the gradient clipping scaled."""
    opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-2)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    clipped = 0
    for step in range(STEPS):
        if step in ROUND_TRIP_AT:
            cross = step == ROUND_TRIP_AT[1]
            ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
            ours = reloaded(ours, make_ours, theirs_state if cross else ours_state)
            theirs = reloaded(theirs, make_theirs, ours_state if cross else theirs_state)
            opt_state = (opt_theirs if cross else opt_ours).state_dict()
            opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-2)
            opt_ours.load_state_dict(opt_state)
            opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2)
            opt_theirs.load_state_dict(copy.deepcopy(opt_state))
            assert_same_state(ours, theirs)
        x = inputs(step)
        if step % 50 == 0:  # a deepcopy (EPyMARL's target critic) steps on its own copy
            copy_ours, copy_theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
            for _ in range(2):
                assert torch.equal(copy_ours(x), copy_theirs(x))
            assert_same_state(copy_ours, copy_theirs)
            copied, own = copy_ours.state_dict(), ours.state_dict()
            vectors = [key for key in own if key.endswith(("._u", "._v"))]
            assert vectors and all(copied[k].data_ptr() != own[k].data_ptr() for k in vectors)
        if step % 10 == 0:
            ours.eval(), theirs.eval()
            with torch.no_grad():
                before = copy.deepcopy(ours.state_dict())
                assert torch.equal(ours(x), theirs(x))
            after = ours.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before)  # eval: no step
            ours.train(), theirs.train()
        out_ours, out_theirs = ours(x), theirs(x)
        assert torch.equal(out_ours, out_theirs), step
        opt_ours.zero_grad(), opt_theirs.zero_grad()
        loss_of(out_ours, step).backward()
        loss_of(out_theirs, step).backward()
        if clip is not None:
            norm = nn.utils.clip_grad_norm_(ours.parameters(), clip)
            assert torch.equal(norm, nn.utils.clip_grad_norm_(theirs.parameters(), clip))
            clipped += bool(norm > clip)
        assert_same_state(ours, theirs)
        opt_ours.step(), opt_theirs.step()
        assert_same_state(ours, theirs)
    return clipped


@pytest.mark.parametrize("power_iterations", [1, 3])
@pytest.mark.parametrize("n_in,n_out", [(30, 64), (64, 64), (64, 1)])
def test_sn_linear_is_torchs_spectral_norm(n_in, n_out, power_iterations):
    def make_ours():
        return SNLinear(n_in, n_out, power_iterations=power_iterations)

    def make_theirs():
        return authors_layer(n_in, n_out, True, power_iterations)

    torch.manual_seed(0)
    theirs = make_theirs()
    rng_after_theirs = torch.get_rng_state()
    torch.manual_seed(0)
    ours = make_ours()
    # the same draws from the global generator, so what is made next is the same too
    assert torch.equal(torch.get_rng_state(), rng_after_theirs)
    assert_same_state(ours, theirs)

    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(16, n_in, generator=g) for _ in range(STEPS)]
    targets = [torch.randn(16, n_out, generator=g) for _ in range(STEPS)]
    lockstep(
        ours,
        theirs,
        make_ours,
        make_theirs,
        inputs=lambda step: xs[step],
        loss_of=lambda out, step: ((out - targets[step]) ** 2).mean(),
    )


# the authors' critic_spectral key (default "nnn", set per run) for each preset's layers
PRESETS = {"mappo_midsn": "nyn", "mappo_fullsn": "yyy", "mappo_lastsn": "nny"}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_critic_is_the_authors_critic(epymarl_src, preset):
    from modules.critics import REGISTRY

    args = preset_args(epymarl_src, preset)
    batches = [random_batch(args, seed=i) for i in range(8)]
    scheme = batches[0].scheme

    def make_ours():
        return REGISTRY[args.critic_type](scheme, args)

    def make_theirs():
        return authors_critic(scheme, args, PRESETS[preset])

    torch.manual_seed(4)
    theirs = make_theirs()
    rng_after_theirs = torch.get_rng_state()
    torch.manual_seed(4)
    ours = make_ours()
    assert torch.equal(torch.get_rng_state(), rng_after_theirs)
    assert_same_state(ours, theirs)

    # returns large enough that the preset's gradient clipping acts on some steps only
    g = torch.Generator().manual_seed(2)
    shape = (batches[0].batch_size, batches[0].max_seq_length, args.n_agents, 1)
    targets = [20 * torch.randn(shape, generator=g) for _ in range(STEPS)]
    clipped = lockstep(
        ours,
        theirs,
        make_ours,
        make_theirs,
        inputs=lambda step: batches[step % len(batches)],
        loss_of=lambda out, step: ((out - targets[step]) ** 2).mean(),
        clip=args.grad_norm_clip,
    )
    assert 0 < clipped < STEPS
