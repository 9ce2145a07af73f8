"""Checks of EPyMARL's own config keys, run with the plugin's before a run starts:
the keys the presets set (their schema, `EpymarlKeys`, and gymma's env_args,
`GymmaArgs`), and keys a run does not know. Without them, a bad value ends deep in
EPyMARL or torch as a traceback (`hidden_dim=0`, `lr=-1`, `seed=-1`,
`env_args.time_limit=0`, a gym key that is not registered), or worse trains nothing
and reports success (`t_max=0`) or trains a critic on its own value (`q_nstep=0`).

The defaults are EPyMARL's (src/config/default.yaml) or the preset's: a key is
checked when the config has it. Also checked before Sacred reads them, when the
plugin is loaded: the YAML files of the command (`--config`, `--env-config`, and a
file named after `with`), whose syntax errors would otherwise end in tracebacks.

A mistyped key (`critic_sn_kk=2`) would stop Sacred with its ConfigAddedError, which
says neither which keys exist nor which one was meant: here it gets one line with
the closest known keys.
"""

import difflib
import importlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Optional

import yaml

from epymarl_sn.errors import ConfigError
from epymarl_sn.knobs import boolean, integer, knob, optional, refusal, settings
from epymarl_sn.values import dotted_keys, is_number, yaml_error

# keys Sacred itself gives every run's config (`with seed=1` is always allowed)
SACRED_KEYS = {"seed"}


def _positive(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value > 0


def _non_negative(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value >= 0


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _count(help: str, example: int) -> Any:
    """An integer >= 1 (EPyMARL divides by it, draws batches of it or loops to it)."""
    return knob(allowed="an integer >= 1", help=help, valid=integer(1), example=example)


def _positive_real(help: str, example: float, what: str) -> Any:
    """A finite number > 0; `what` says what it is to EPyMARL."""
    return knob(
        allowed=f"a finite number > 0 ({what})", help=help, valid=_positive, example=example
    )


def _flag(help: str) -> Any:
    return knob(allowed="True or False", help=help, valid=boolean, example=True)


@dataclass(frozen=True)
class EpymarlKeys:
    """EPyMARL's own keys that the plugin's presets set (and `seed`, Sacred's), with
    the values a run can use; defaults: EPyMARL's default.yaml or the preset."""

    seed: int = knob(
        allowed="an integer from 0 to 2**32 - 1 (numpy's seeds)",
        help="the run's seed (Sacred's); numpy and torch are seeded with it",
        valid=integer(0, 2**32 - 1),
        example=1,
    )
    t_max: int = _count("environment steps to train for; 0 would train nothing", 2050000)
    batch_size_run: int = _count("envs run in parallel (EPyMARL divides by it)", 10)
    batch_size: int = _count("episodes per training batch", 10)
    buffer_size: int = _count("episodes the buffer holds", 10)
    hidden_dim: int = _count("width of every hidden layer and of the GRU", 64)
    q_nstep: int = _count("steps of the critic's TD targets (0: the target is its own value)", 10)
    epochs: int = _count("PPO epochs per batch", 4)
    test_nepisode: int = _count("episodes per test", 100)
    test_interval: int = _count("env steps between tests", 50000)
    log_interval: int = _count("env steps between log summaries", 50000)
    runner_log_interval: int = _count("env steps between runner logs", 10000)
    learner_log_interval: int = _count("env steps between learner logs", 10000)
    save_model_interval: int = _count("env steps between saved models", 50000)
    lr: float = _positive_real("the learning rate", 0.0005, what="Adam's learning rate")
    grad_norm_clip: float = _positive_real(
        "gradient clipping", 10, what="the gradients' largest L2 norm"
    )
    eps_clip: float = _positive_real("PPO's ratio clip", 0.2, what="PPO's clipping range")
    entropy_coef: float = knob(
        allowed="a finite number >= 0",
        help="weight of the policy's entropy bonus",
        valid=_non_negative,
        example=0.001,
    )
    gamma: float = knob(
        allowed="a number from 0 to 1 (the discount)",
        help="the discount factor",
        valid=lambda v: is_number(v) and 0 <= v <= 1,
        example=0.99,
    )
    target_update_interval_or_tau: float = knob(
        allowed="a number from 0 to 1 (soft update rate) or an integer >= 1 (hard updates)",
        help="the target critic's soft update rate, or steps between hard updates",
        valid=_positive,
        example=0.01,
    )
    use_rnn: bool = _flag("the agent's GRU")
    obs_agent_id: bool = _flag("agents see their one-hot id")
    obs_last_action: bool = _flag("agents see their last action")
    obs_individual_obs: bool = _flag("the critic sees each agent's observation")
    standardise_returns: bool = _flag("returns standardised by running statistics")
    standardise_rewards: bool = _flag("rewards standardised by running statistics")
    mask_before_softmax: bool = _flag("unavailable actions masked before the softmax")
    test_greedy: bool = _flag("greedy actions in tests")
    common_reward: bool = _flag("one team reward")
    save_model: bool = _flag("models saved every save_model_interval")
    use_cuda: bool = _flag("train on a GPU when there is one")


@dataclass(frozen=True)
class GymmaArgs:
    """`env_args` of EPyMARL's `gymma` env (RWARE, LBF, any gymnasium env)."""

    key: str = knob(
        allowed="a registered gymnasium env id, as MODULE:ID (e.g. rware:rware-tiny-2ag-v2)",
        help="the gymnasium env",
        valid=_text,
        example="rware:rware-tiny-2ag-v2",
    )
    time_limit: int = knob(
        allowed="an integer >= 1 (steps per episode)",
        help="episode limit in steps",
        valid=integer(1),
        example=500,
    )
    pretrained_wrapper: Optional[str] = knob(
        allowed="null or the name of a wrapper in EPyMARL's envs/pretrained",
        help="a pretrained opponent's wrapper",
        valid=optional(_text),
        example=None,
    )


def _check_given(schema: type, config: Mapping[str, Any], prefix: str = "") -> None:
    """Each key of `schema` that `config` has, against its knob; ConfigError if bad."""
    for s in settings(schema):
        if s.key in config and not s.knob.valid(config[s.key]):
            raise ConfigError(refusal(prefix + s.key, config[s.key], s.knob.allowed, s.example))


def check_counts(config: Mapping[str, Any]) -> None:
    """EPyMARL's keys of EpymarlKeys, and gymma's env_args (GymmaArgs) on gymma."""
    _check_given(EpymarlKeys, config)
    if config.get("env") == "gymma":
        env_args = config.get("env_args") or {}
        _check_given(GymmaArgs, env_args, "env_args.")
        check_gym_key(env_args.get("key"))


def check_gym_key(key: Any) -> None:
    """A gymma key that gymnasium can make: its module imports, its id is registered."""
    s = next(s for s in settings(GymmaArgs) if s.key == "key")
    if not _text(key):
        raise ConfigError(refusal("env_args.key", key, s.knob.allowed, s.example))
    import gymnasium

    module, _, env_id = str(key).rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"env_args.key: {key!r} names the module {module!r}, which cannot be "
                f"imported ({err}); install it or fix the key, e.g. "
                f"env_args.key={s.example}"
            ) from None
    try:
        gymnasium.spec(env_id)
    except gymnasium.error.Error:
        ids = [f"{module}:{i}" if module else i for i in gymnasium.registry]
        close = difflib.get_close_matches(str(key), ids, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else f"e.g. env_args.key={s.example}"
        raise ConfigError(
            f"env_args.key: {key!r} is not a registered gymnasium env; {hint}"
        ) from None


def did_you_mean(key: str, known: "list[str]") -> str:
    """`; did you mean X?` for the known keys closest to `key`, or a pointer."""
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return "; see the keys of src/config/default.yaml, the env config and the preset"


def _added_keys() -> "tuple[set[str], set[str]]":
    """(keys set with `with` that no config file has, the main function's arguments),
    from the Sacred scaffold running the config hooks (Sacred hands a hook only the
    config); empty when not called from there."""
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None:
        scaffold: Any = frame.f_locals.get("self")
        if frame.f_code.co_name == "run_config_hooks" and hasattr(scaffold, "config_mods"):
            return set(scaffold.config_mods.added), set(scaffold.captured_args)
        frame = frame.f_back
    return set(), set()


def check_known_keys(config: Mapping[str, Any]) -> None:
    """A key that no config file has (Sacred would refuse it after the hooks, as a
    ConfigAddedError without a suggestion) -> ConfigError with a did-you-mean."""
    added, captured = _added_keys()
    # Sacred's rule: an added key is fine if a prefix of it is a main-function argument
    unknown = sorted(
        key
        for key in added - SACRED_KEYS
        if not any(".".join(key.split(".")[: i + 1]) in captured for i in range(key.count(".") + 1))
    )
    if not unknown:
        return
    known = sorted(set(dotted_keys(config)) - added)
    key = unknown[0]
    raise ConfigError(f"{key}: not a config key of this run{did_you_mean(key, known)}")


# the files Sacred reads as config updates when named after `with`
CONFIG_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def command_files(argv: Sequence[str], dirs: Sequence[str]) -> list[str]:
    """The config files the patched main.py and Sacred will read for `argv`:
    default.yaml, the --env-config and --config files (looked up in `dirs` as main.py
    looks them up; a name with no file is main.py's to report), and each file named
    after `with`."""
    files = [os.path.join(dirs[0], "default.yaml")] if dirs else []
    for flag, subfolder in (("--env-config", "envs"), ("--config", "algs")):
        name = next((a.split("=")[1] for a in argv if a.split("=")[0] == flag), None)
        paths = [os.path.join(d, subfolder, f"{name}.yaml") for d in dirs] if name else []
        files += [p for p in paths if os.path.isfile(p)][:1]
    if "with" in argv:
        for update in list(argv)[list(argv).index("with") + 1 :]:
            if "=" in update or not update:
                continue
            if not update.endswith(CONFIG_FILE_SUFFIXES):
                # Sacred would look it up as a named config, which EPyMARL has none of
                raise ConfigError(
                    f"with {update}: neither KEY=VALUE nor a config file "
                    f"({', '.join(CONFIG_FILE_SUFFIXES)}); e.g. with t_max=10000 or with "
                    "my_config.yaml"
                )
            files.append(update)
    return files


def check_command_files(argv: Sequence[str], dirs: Sequence[str]) -> None:
    """Each config file of the command exists and holds a YAML (or JSON) mapping;
    ConfigError naming the file, and for a syntax error its line and column."""
    for path in command_files(argv, dirs):
        try:
            with open(path) as f:
                value = yaml.load(f, Loader=yaml.FullLoader)  # as main.py reads them
        except OSError as err:
            raise ConfigError(
                f"cannot read the config file {path} ({err.strerror}); give an existing "
                "YAML file after `with`, or KEY=VALUE"
            ) from None
        except yaml.YAMLError as err:
            raise ConfigError(yaml_error(path, err)) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8 YAML") from None
        if not isinstance(value, dict):
            what = "is empty" if value is None else f"holds a YAML {type(value).__name__}"
            raise ConfigError(f"{path} {what}, not a mapping of config keys (KEY: VALUE lines)")
