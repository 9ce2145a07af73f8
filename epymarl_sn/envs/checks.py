"""Checks of `sc2_sparse` / `smaclite_sparse` config, run before a run starts.

Each problem raises ConfigError (a ValueError) with one line that says how to fix it. They must
all be caught here: the parallel runner builds envs in subprocesses, where an
error would hang the run instead of stopping it.
"""

import inspect
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from epymarl_sn.console import say
from epymarl_sn.envs import starcraft
from epymarl_sn.envs.installed import RVO2_INSTALL_HINT, rvo2_installed, smac_flavour
from epymarl_sn.envs.reward import SparseReward
from epymarl_sn.errors import ConfigError
from epymarl_sn.knobs import boolean, integer, keys, knob, one_of, optional, parse

EnvCheck = Callable[[Mapping[str, Any]], None]
# the sparse envs, each with the check of its own env_args (the reward's are common):
# an env joins with @sparse_env, not with a branch in check_sparse_config
SPARSE_ENVS: dict[str, EnvCheck] = {}


def sparse_env(env: str) -> Callable[[EnvCheck], EnvCheck]:
    """Register `check(env_args)` as the env_args check of the sparse env `env`."""

    def register(check: EnvCheck) -> EnvCheck:
        SPARSE_ENVS[env] = check
        return check

    return register


# SMAC options that shape SMAC's own (dense) reward, which sc2_sparse replaces
SMAC_DENSE_REWARD_OPTIONS = {"reward_sparse", "reward_only_positive", "reward_negative_scale"}


@dataclass(frozen=True)
class SMACliteOptions:
    """smaclite_sparse's own env_args keys (besides map_name, seed and the reward's)."""

    time_limit: Optional[int] = knob(
        None,
        allowed="a positive number of steps or null (SMAC's limit for the map)",
        help="`smaclite_sparse`: episode limit in steps; `null` takes SMAC's limit for the map",
        valid=optional(integer(1)),
        example=170,
    )
    use_cpp_rvo2: Union[bool, str] = knob(
        "auto",
        allowed="True, False or auto",
        help=(
            "`smaclite_sparse`: SMAClite's C++ collision avoidance, SMAClite's other "
            "simulator with its own numbers: `True` (its own envs, never batched); `False` "
            "and `auto` the numpy one, on the batched backend where it applies; where it "
            "does not, `auto` takes the C++ one when installed "
            "([docs/fast_smaclite.md](docs/fast_smaclite.md))"
        ),
        valid=one_of(True, False, "auto"),
    )
    # False: the authors' src_spectral/config/algs/mappo.yaml (and sc2_sparse)
    state_last_action: bool = knob(
        False,
        allowed="True or False",
        help=(
            "`smaclite_sparse`: the critic's state ends with every agent's last action "
            "(SMAClite's own state); `False` drops them, as SMAC's key of that name"
        ),
        valid=boolean,
    )


SMACLITE_OPTIONS = {"map_name", "seed", *keys(SMACliteOptions)}


def check_reward_options(env: str, env_args: Mapping[str, Any]) -> SparseReward:
    """The reward of a sparse env's env_args; ConfigError if bad."""
    if "reward_death" in env_args:
        raise ConfigError(
            f"env_args.reward_death is not an option of {env} (public SMAC has "
            "no such argument either); the reward per enemy killed and per "
            "ally lost is env_args.reward_death_value, e.g. "
            "env_args.reward_death_value=10"
        )
    reward = parse(SparseReward, env_args, prefix="env_args.")
    if reward.reward_scale and not (
        reward.reward_scale_rate > 0 and reward.reward_win > 0 and reward.reward_death_value >= 0
    ):
        raise ConfigError(
            "env_args.reward_scale=True divides rewards by (n_enemies * "
            "reward_death_value + reward_win [+ enemy health and shields]) / "
            "reward_scale_rate, so it needs reward_scale_rate > 0, reward_win > 0 "
            "and reward_death_value >= 0; fix those or set "
            "env_args.reward_scale=False"
        )
    return reward


def _check_map(env: str, map_name: Any, maps: Collection[str]) -> str:
    """The map name, once it is one of `maps`."""
    if map_name not in maps:
        raise ConfigError(
            f"unknown map {map_name!r} for {env}; set env_args.map_name to one "
            f"of: {', '.join(sorted(maps))}"
        )
    return map_name


def _check_known_options(env: str, env_args: Mapping[str, Any], known: set[str]) -> None:
    known = known | set(keys(SparseReward))
    unknown = sorted(set(env_args) - known)
    if unknown:
        raise ConfigError(
            f"unknown env_args.{unknown[0]} for {env}; its options are: {', '.join(sorted(known))}"
        )


@sparse_env("smaclite_sparse")
def check_smaclite(env_args: Mapping[str, Any]) -> None:
    from smaclite.env.maps.map import MapPreset

    env = "smaclite_sparse"
    _check_known_options(env, env_args, SMACLITE_OPTIONS)
    _check_map(env, env_args.get("map_name"), {p.value.name for p in MapPreset})
    options = parse(SMACliteOptions, env_args, prefix="env_args.")
    if options.time_limit is None and smac_flavour() != "oxwhirl":
        raise ConfigError(
            "env_args.time_limit=null takes the map's episode limit from "
            "oxwhirl's SMAC, which is not installed; run `epymarl-sn setup` "
            "or set env_args.time_limit to a number of steps"
        )
    cpp = options.use_cpp_rvo2
    if not rvo2_installed():
        if cpp is True:
            raise ConfigError(
                "env_args.use_cpp_rvo2=True but SMAClite's C++ RVO2 (module "
                f"rvo2) is not installed; {RVO2_INSTALL_HINT}, or set "
                "env_args.use_cpp_rvo2=auto"
            )
        if cpp == "auto":
            say(
                "SMAClite's C++ RVO2 is not installed: using its numpy port (2-3x slower); "
                f"to speed it up, {RVO2_INSTALL_HINT}"
            )


@sparse_env("sc2_sparse")
def check_sc2(env_args: Mapping[str, Any], cwd: Optional[starcraft.PathLike] = None) -> None:
    env = "sc2_sparse"
    flavour = smac_flavour()
    if flavour == "smac3":
        raise ConfigError(
            "PyPI's `smac` (SMAC3, a hyper-parameter optimiser) is installed in "
            "place of oxwhirl's SMAC, which sc2_sparse needs: run `pip uninstall "
            "smac` and `epymarl-sn setup`, or use --env-config=smaclite_sparse"
        )
    if flavour is None:
        raise ConfigError(
            "oxwhirl's SMAC, which sc2_sparse needs, is not installed: run "
            "`epymarl-sn setup`, or use --env-config=smaclite_sparse"
        )
    from smac.env import StarCraft2Env
    from smac.env.starcraft2.maps import smac_maps

    dense = sorted(SMAC_DENSE_REWARD_OPTIONS & set(env_args))
    if dense:
        raise ConfigError(
            f"env_args.{dense[0]} shapes SMAC's own dense reward, which "
            f"{env} replaces with the sparse one; remove it"
        )
    known = set(inspect.signature(StarCraft2Env.__init__).parameters) - {"self"}
    _check_known_options(env, env_args, known - SMAC_DENSE_REWARD_OPTIONS)
    map_name = _check_map(env, env_args.get("map_name"), smac_maps.get_smac_map_registry())
    path = starcraft.sc2_dir(cwd)
    if not starcraft.has_binary(path):
        raise ConfigError(
            f"StarCraft II not found in {path} (looked for "
            f"Versions/Base*/SC2_x64; SC2PATH="
            f"{os.environ.get('SC2PATH', 'unset')}): {starcraft.INSTALL_HINT}"
        )
    map_file = starcraft.smac_map_file(path, map_name)
    if not map_file.is_file():
        raise ConfigError(
            f"StarCraft II found in {path}, but not the SMAC map {map_file}: "
            "download SMAC_Maps.zip (github.com/oxwhirl/smac/releases) and "
            f"unzip it into {path / 'Maps'}"
        )


def check_sparse_config(config: Mapping[str, Any]) -> None:
    env = config.get("env")
    if env not in SPARSE_ENVS:
        return
    if not config.get("common_reward", True):
        raise ConfigError(f"{env} gives the team one common reward: set common_reward=True")
    env_args = config.get("env_args") or {}
    check_reward_options(env, env_args)
    SPARSE_ENVS[env](env_args)
