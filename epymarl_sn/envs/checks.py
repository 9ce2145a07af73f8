"""Checks of `sc2_sparse` / `smaclite_sparse` config, run before a run starts.

Each problem raises ConfigError (a ValueError) with one line that says how to fix it. They must
all be caught here: the parallel runner builds envs in subprocesses, where an
error would hang the run instead of stopping it.
"""

import inspect
import os
from collections.abc import Collection, Mapping
from typing import Any, Optional

from epymarl_sn.console import say
from epymarl_sn.envs import starcraft
from epymarl_sn.envs.installed import RVO2_INSTALL_HINT, rvo2_installed, smac_flavour
from epymarl_sn.envs.reward import DIVISORS, REWARD_DEFAULTS
from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_int, is_number

SPARSE_ENVS = ("sc2_sparse", "smaclite_sparse")
SMACLITE_OPTIONS = {"map_name", "time_limit", "use_cpp_rvo2", "state_last_action", "seed"}
# SMAC options that shape SMAC's own (dense) reward, which sc2_sparse replaces
SMAC_DENSE_REWARD_OPTIONS = {"reward_sparse", "reward_only_positive", "reward_negative_scale"}
NUMBER_OPTIONS = (
    "reward_death_value",
    "reward_ally_death_value",
    "reward_win",
    "reward_defeat",
    "reward_scale_rate",
)


def check_reward_options(env: str, env_args: Mapping[str, Any]) -> None:
    if "reward_death" in env_args:
        raise ConfigError(
            f"env_args.reward_death is not an option of {env} (public SMAC has "
            "no such argument either); the reward per enemy killed and per "
            "ally lost is env_args.reward_death_value, e.g. "
            "env_args.reward_death_value=10"
        )
    for key in NUMBER_OPTIONS:
        if key in env_args and not is_number(env_args[key]):
            raise ConfigError(
                f"env_args.{key} must be a number, got {env_args[key]!r} "
                f"({type(env_args[key]).__name__}); e.g. "
                f"env_args.{key}={REWARD_DEFAULTS[key]:g}"
            )
    if not isinstance(env_args.get("reward_scale", False), bool):
        raise ConfigError(
            f"env_args.reward_scale must be True or False, got "
            f"{env_args['reward_scale']!r}; e.g. env_args.reward_scale=True"
        )
    divisor = env_args.get("reward_scale_divisor", REWARD_DEFAULTS["reward_scale_divisor"])
    if divisor not in DIVISORS:
        raise ConfigError(
            f"env_args.reward_scale_divisor must be one of {', '.join(DIVISORS)} "
            f"(smac: public SMAC's max_reward, with the enemies' health and "
            f"shields; sparse: without them), got {divisor!r}; e.g. "
            "env_args.reward_scale_divisor=smac"
        )
    options = {**REWARD_DEFAULTS, **env_args}
    if options["reward_scale"] and not (
        options["reward_scale_rate"] > 0
        and options["reward_win"] > 0
        and options["reward_death_value"] >= 0
    ):
        raise ConfigError(
            "env_args.reward_scale=True divides rewards by (n_enemies * "
            "reward_death_value + reward_win [+ enemy health and shields]) / "
            "reward_scale_rate, so it needs reward_scale_rate > 0, reward_win > 0 "
            "and reward_death_value >= 0; fix those or set "
            "env_args.reward_scale=False"
        )


def _check_map(env: str, map_name: Any, maps: Collection[str]) -> str:
    """The map name, once it is one of `maps`."""
    if map_name not in maps:
        raise ConfigError(
            f"unknown map {map_name!r} for {env}; set env_args.map_name to one "
            f"of: {', '.join(sorted(maps))}"
        )
    return map_name


def _check_known_options(env: str, env_args: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(env_args) - known - set(REWARD_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown env_args.{unknown[0]} for {env}; its options are: "
            f"{', '.join(sorted(known | set(REWARD_DEFAULTS)))}"
        )


def check_smaclite(env_args: Mapping[str, Any]) -> None:
    from smaclite.env.maps.map import MapPreset

    env = "smaclite_sparse"
    _check_known_options(env, env_args, SMACLITE_OPTIONS)
    _check_map(env, env_args.get("map_name"), {p.value.name for p in MapPreset})
    time_limit = env_args.get("time_limit")
    if time_limit is None:
        if smac_flavour() != "oxwhirl":
            raise ConfigError(
                "env_args.time_limit=null takes the map's episode limit from "
                "oxwhirl's SMAC, which is not installed; run `epymarl-sn setup` "
                "or set env_args.time_limit to a number of steps"
            )
    elif not (is_int(time_limit) and time_limit > 0):
        raise ConfigError(
            f"env_args.time_limit must be a positive number of steps or null "
            f"(SMAC's limit for the map), got {time_limit!r}"
        )
    if not isinstance(env_args.get("state_last_action"), bool):
        raise ConfigError(
            f"env_args.state_last_action must be True or False, got "
            f"{env_args.get('state_last_action')!r}; e.g. env_args.state_last_action=False"
        )
    cpp = env_args.get("use_cpp_rvo2", "auto")
    if cpp not in (True, False, "auto"):
        raise ConfigError(f"env_args.use_cpp_rvo2 must be True, False or auto, got {cpp!r}")
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
    if env == "smaclite_sparse":
        check_smaclite(env_args)
    else:
        check_sc2(env_args)
