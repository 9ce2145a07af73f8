"""Which envs step a run's batch, decided in one place: a batched backend in the
training process (RWARE's for gymma's rware keys, SMAClite's for `smaclite_sparse`)
where its key is on and it can stand in for the simulator, else the envs' own (in the
vector runner's workers, or in the training process with `vector_workers: 0`). The
decision carries the run's one log line on it: which backend, or why none applies."""

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Optional, cast

from epymarl_sn.batched.rware import unsupported as rware_unsupported
from epymarl_sn.batched.smaclite import unsupported as smaclite_unsupported
from epymarl_sn.runners.config import VectorKeys
from epymarl_sn.runners.rware import RwareSlice
from epymarl_sn.runners.slices import BatchedSlice, EnvFn
from epymarl_sn.runners.smaclite import SmacliteSlice


@dataclass(frozen=True)
class Stepping:
    """How a run's envs are stepped, and why."""

    # the batched backend over every env of the batch; None: the envs' own
    batched: Optional[BatchedSlice]
    # the run's one log line on it; None where the run's env has no batched backend or
    # its key turns it off
    why: Optional[str]


def stepping(args: SimpleNamespace, vector: VectorKeys, env_fns: Sequence[EnvFn]) -> Stepping:
    """The batched backend that steps the run's envs (made from `env_fns`, the batch's
    env makers), or none, and why."""
    if args.env == "gymma" and "rware" in str(args.env_args.get("key", "")):
        return _rware(args, env_fns) if vector.rware_batched else Stepping(None, None)
    if args.env == "smaclite_sparse":
        return _smaclite(args, env_fns) if vector.smaclite_batched else Stepping(None, None)
    return Stepping(None, None)


def _rware(args: SimpleNamespace, env_fns: Sequence[EnvFn]) -> Stepping:
    key = args.env_args["key"]
    return _batched(
        reason="render is on" if args.render else None,
        make=lambda: [fn() for fn in env_fns],
        unsupported=rware_unsupported,
        build=lambda envs: RwareSlice(envs, args.common_reward, args.reward_scalarisation),
        applies=(
            f"vector runner: {key}'s {len(env_fns)} envs stepped together in the "
            "training process (batched RWARE backend; rware_batched=False turns it off)"
        ),
        own=f"vector runner: rware's own envs for {key}",
    )


def _smaclite(args: SimpleNamespace, env_fns: Sequence[EnvFn]) -> Stepping:
    # the backend reproduces SMAClite's numpy collision avoidance, so its envs are made
    # with use_cpp_rvo2: False, unless the run asked for True
    reason = None
    if args.render:
        reason = "render is on"
    elif args.env_args.get("use_cpp_rvo2", "auto") is True:
        reason = "use_cpp_rvo2=True asks for SMAClite's C++ collision avoidance"
    map_name = args.env_args.get("map_name")
    return _batched(
        reason=reason,
        # env_fns are partials of the registry's function: override one env_arg
        make=lambda: [cast(Any, fn)(use_cpp_rvo2=False) for fn in env_fns],
        unsupported=lambda env: smaclite_unsupported(env.env.unwrapped),
        build=SmacliteSlice,
        applies=(
            f"vector runner: SMAClite {map_name}'s {len(env_fns)} envs stepped together in "
            "the training process (batched SMAClite backend, SMAClite's numpy collision "
            "avoidance value for value; smaclite_batched=False turns it off)"
        ),
        own=f"vector runner: SMAClite's own envs for {map_name}",
    )


def _batched(
    *,
    reason: Optional[str],
    make: Callable[[], list[Any]],
    unsupported: Callable[[Any], Optional[str]],
    build: Callable[[list[Any]], BatchedSlice],
    applies: str,
    own: str,
) -> Stepping:
    """The backend `build` makes over the envs `make` makes, unless `reason` (from the
    config) or `unsupported` (of the first env) says why it cannot apply."""
    if reason is None:
        envs = make()
        reason = unsupported(envs[0])
        if reason is None:
            return Stepping(build(envs), applies)
        for env in envs:
            env.close()
    return Stepping(None, f"{own}: the batched backend does not apply ({reason})")
