"""Checks of EPyMARL's own config keys, run with the plugin's before a run starts:
counts that EPyMARL divides by or indexes with, and keys a run does not know.

A mistyped key (`critic_sn_kk=2`) would stop Sacred with its ConfigAddedError, which
says neither which keys exist nor which one was meant: here it gets one line with
the closest known keys.
"""

import difflib
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any, Optional

from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_int

# keys Sacred itself gives every run's config (`with seed=1` is always allowed)
SACRED_KEYS = {"seed"}

# EPyMARL divides by these (batch_size_run: the runner's envs) or draws batches of them
POSITIVE_COUNTS = ("batch_size_run", "batch_size", "buffer_size")


def check_counts(config: Mapping[str, Any]) -> None:
    for key in POSITIVE_COUNTS:
        if key not in config:
            continue
        value: Any = config[key]
        if not is_int(value) or value < 1:
            raise ConfigError(
                f"{key}: {value!r} is not allowed; allowed: an integer >= 1; set e.g. {key}=10"
            )


def dotted_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every leaf key of a nested config, dotted (`env_args.map_name`)."""
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from dotted_keys(value, f"{prefix}{key}.")
        else:
            yield prefix + key


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
