"""The run's key `checkpoint_interval`, and what a resumed run's config must be.

A resumed run (`epymarl-sn resume`) is started with EPYMARL_SN_RESUME naming the
checkpoint it goes on from; its config must equal the checkpoint's, key for key,
except `t_max` where EPYMARL_SN_RESUME_T_MAX names the new one (`resume --t-max`).
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from epymarl_sn.checkpoint.files import Checkpoint, read
from epymarl_sn.errors import CheckpointError, ConfigError
from epymarl_sn.knobs import integer, knob, parse

RESUME_ENV = "EPYMARL_SN_RESUME"  # the checkpoint directory a resumed run starts from
T_MAX_ENV = "EPYMARL_SN_RESUME_T_MAX"  # the t_max a resumed run may change to


@dataclass(frozen=True)
class CheckpointKeys:
    """The run's checkpoint key."""

    # measured (docs/benchmarks.md, benchmarks/checkpoint_cost.py): a checkpoint of
    # mappo_midsn on RWARE takes about 0.1 s, so one per 100k env steps costs about 0.3%
    # of a run at 4,000 env steps/s, and a run killed without warning loses at most 100k
    checkpoint_interval: int = knob(
        100000,
        allowed=(
            "an integer >= 0: env steps between checkpoints, 0 for none (a stop is then "
            "immediate and the run cannot be resumed)"
        ),
        help=(
            "env steps between the run's checkpoints (`epymarl-sn resume` goes on from "
            "the newest); a stop signal (SIGTERM, SIGINT, SIGHUP, SIGUSR1) also writes one, "
            "at the next batch boundary, before the run stops. `0`: none "
            "([docs/resume.md](docs/resume.md))"
        ),
        valid=integer(0),
    )


def checkpoint_interval(config: Mapping[str, Any]) -> int:
    """Env steps between checkpoints (0: none); ConfigError in one line if bad."""
    return parse(CheckpointKeys, config).checkpoint_interval


def resumed_from() -> Optional[Path]:
    """The checkpoint this process resumes from, None for a new run."""
    path = os.environ.get(RESUME_ENV)
    return Path(path) if path else None


def resumed() -> "Optional[Checkpoint]":
    """The checkpoint this process resumes from (CheckpointError if damaged), None for
    a new run."""
    path = resumed_from()
    return None if path is None else read(path)


def _dotted(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(_dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _comparable(config: Mapping[str, Any]) -> dict[str, str]:
    # as Sacred stores it (JSON): a tuple and a list of the same items are one value
    return {k: json.dumps(v, sort_keys=True, default=str) for k, v in _dotted(config).items()}


def config_differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two configs (or that one lacks)."""
    a, b = _comparable(saved), _comparable(now)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def allowed_t_max() -> Optional[int]:
    value = os.environ.get(T_MAX_ENV)
    return int(value) if value else None


def check_resume_config(config: Mapping[str, Any]) -> None:
    """A resumed run's config is its checkpoint's (t_max may change where asked), else
    ConfigError naming the keys; a checkpoint that cannot be read: one line too."""
    checkpoint_interval(config)
    path = resumed_from()
    if path is None:
        return
    try:
        saved = read(path).meta["config"]
    except CheckpointError as err:
        raise ConfigError(str(err)) from None
    differ = config_differences(saved, config)
    if "t_max" in differ and allowed_t_max() == config.get("t_max"):
        differ.remove("t_max")
    if differ:
        shown = ", ".join(
            f"{k} (checkpoint: {_dotted(saved).get(k, 'absent')!r}, now: "
            f"{_dotted(config).get(k, 'absent')!r})"
            for k in differ
        )
        raise ConfigError(
            f"cannot resume from {path}: the config differs from the checkpoint's in "
            f"{shown}; resume with the checkpoint's config (only t_max may change, with "
            "`epymarl-sn resume RUN --t-max N`)"
        )
