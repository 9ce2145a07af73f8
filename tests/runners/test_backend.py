"""`runners.backend.stepping`, the one decision which envs step a run's batch: the
batched backend where its key is on and it applies (made over the run's real envs),
else the envs' own, with the run's one log line saying which and why."""

import sys
from functools import partial
from types import SimpleNamespace

import pytest

from epymarl_sn.runners.config import VectorKeys

TINY = "rware:rware-tiny-2ag-v2"


@pytest.fixture(scope="module")
def registry(epymarl_dir):
    """EPyMARL's env registry with the plugin's envs, as src/main.py sees it."""
    sys.path.insert(0, str(epymarl_dir / "src"))
    from envs import REGISTRY

    from epymarl_sn.plugin import register

    register()
    return REGISTRY


def run_args(env, render=False, **env_args):
    return SimpleNamespace(
        env=env,
        env_args=env_args,
        render=render,
        common_reward=True,
        reward_scalarisation="sum",
    )


def env_fns(registry, args, n=2):
    """The vector runner's env makers: env i gets seed + i."""
    common = {"common_reward": True, "reward_scalarisation": "sum"}
    return [
        partial(registry[args.env], **{**args.env_args, "seed": 3 + i, **common}) for i in range(n)
    ]


def test_rware_runs_take_the_batched_backend_unless_off_or_it_cannot_apply(registry):
    from rware.warehouse import ObservationType

    from epymarl_sn.runners.backend import stepping
    from epymarl_sn.runners.rware import RwareSlice

    args = run_args("gymma", key=TINY, time_limit=10, pretrained_wrapper=None)
    how = stepping(args, VectorKeys(), env_fns(registry, args))
    assert isinstance(how.batched, RwareSlice) and len(how.batched.envs) == 2
    assert how.why == (
        f"vector runner: {TINY}'s 2 envs stepped together in the training process "
        "(batched RWARE backend; rware_batched=False turns it off)"
    )
    how.batched.close(None)

    # off: rware's own envs, and nothing to say
    off = stepping(args, VectorKeys(rware_batched=False), env_fns(registry, args))
    assert off.batched is None and off.why is None

    # on, but the config or the env rules it out: rware's own envs, and why
    rendered = run_args("gymma", render=True, key=TINY, time_limit=10, pretrained_wrapper=None)
    how = stepping(rendered, VectorKeys(), env_fns(registry, rendered))
    assert how.batched is None
    assert how.why == (
        f"vector runner: rware's own envs for {TINY}: the batched backend does not apply "
        "(render is on)"
    )
    dict_obs = run_args(
        "gymma",
        key=TINY,
        time_limit=10,
        pretrained_wrapper=None,
        observation_type=ObservationType.DICT,
    )
    how = stepping(dict_obs, VectorKeys(), env_fns(registry, dict_obs))
    assert how.batched is None
    assert how.why == (
        f"vector runner: rware's own envs for {TINY}: the batched backend does not apply "
        "(its observations are not rware's flattened vectors)"
    )


def test_smaclite_runs_take_the_batched_backend_unless_off_or_it_cannot_apply(registry):
    from epymarl_sn.runners.backend import stepping
    from epymarl_sn.runners.smaclite import SmacliteSlice

    args = run_args("smaclite_sparse", map_name="2s3z")
    how = stepping(args, VectorKeys(), env_fns(registry, args))
    assert isinstance(how.batched, SmacliteSlice) and len(how.batched.envs) == 2
    # made with SMAClite's numpy collision avoidance, which the backend reproduces
    updaters = {type(env.env.unwrapped.velocity_updater).__name__ for env in how.batched.envs}
    assert updaters == {"NumpyVelocityUpdater"}
    assert how.why == (
        "vector runner: SMAClite 2s3z's 2 envs stepped together in the training process "
        "(batched SMAClite backend, SMAClite's numpy collision avoidance value for value; "
        "smaclite_batched=False turns it off)"
    )
    how.batched.close(None)

    off = stepping(args, VectorKeys(smaclite_batched=False), env_fns(registry, args))
    assert off.batched is None and off.why is None

    cpp = run_args("smaclite_sparse", map_name="2s3z", use_cpp_rvo2=True)
    how = stepping(cpp, VectorKeys(), env_fns(registry, cpp))
    assert how.batched is None
    assert how.why == (
        "vector runner: SMAClite's own envs for 2s3z: the batched backend does not apply "
        "(use_cpp_rvo2=True asks for SMAClite's C++ collision avoidance)"
    )
    # healers and a second plane (the medivac): batched too
    healers = run_args("smaclite_sparse", map_name="MMM")
    how = stepping(healers, VectorKeys(), env_fns(registry, healers))
    assert how.batched is not None
    assert how.why.startswith("vector runner: SMAClite MMM's 2 envs stepped together")
    how.batched.close(None)


def test_other_envs_have_no_batched_backend():
    from epymarl_sn.runners.backend import stepping

    # a gymma env that is not rware: its own envs, nothing said
    args = run_args("gymma", key="pz-mpe-simple-spread-v3", time_limit=10)
    how = stepping(args, VectorKeys(), [])
    assert how.batched is None and how.why is None
