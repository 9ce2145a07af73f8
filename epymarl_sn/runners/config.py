"""The `vector` runner's config keys `vector_workers`, `rware_batched` and
`smaclite_batched`: their values
and their checks.

Kept apart from `runners.vector`, which imports EPyMARL's modules: the check runs
wherever the plugin is loaded, before a run starts.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from epymarl_sn.knobs import boolean, defaults, integer, knob, optional, parse, refused, setting
from epymarl_sn.values import is_int


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class VectorKeys:
    """The `vector` runner's keys."""

    vector_workers: Optional[int] = knob(
        None,
        allowed=(
            "an integer from 0 (step the envs in the training process) to batch_size_run, "
            "or null (one per core)"
        ),
        help=(
            "the `vector` runner's worker processes: `null` one per core, at most "
            "`batch_size_run`; `0` the envs step in the training process"
        ),
        valid=optional(integer(0)),  # at most batch_size_run: vector_keys checks it
        example=0,
    )
    # step RWARE envs with the batched backend (batched.rware), in the training
    # process, wherever it applies; False: rware's own envs in worker processes
    rware_batched: bool = knob(
        True,
        allowed=(
            "True (RWARE envs stepped together in the training process, same episodes) or "
            "False (rware's own envs)"
        ),
        help=(
            "RWARE envs stepped all at once in the training process by the batched backend "
            "(rware 2.0.0's episodes bit for bit); `False`: rware's own envs. Where it "
            "cannot apply, one log line says why ([docs/fast_rware.md](docs/fast_rware.md))"
        ),
        valid=boolean,
        example=False,
    )
    # step SMAClite envs with the batched backend (batched.smaclite) wherever it applies;
    # False: SMAClite's own envs in worker processes
    smaclite_batched: bool = knob(
        True,
        allowed=(
            "True (SMAClite envs stepped together in the training process, same battles) "
            "or False (SMAClite's own envs)"
        ),
        help=(
            "`smaclite_sparse`: SMAClite envs stepped all at once in the training process "
            "by the batched backend (SMAClite's numpy collision avoidance value for value); "
            "`False`: SMAClite's own envs. Where it cannot apply, one log line says why "
            "([docs/fast_smaclite.md](docs/fast_smaclite.md))"
        ),
        valid=boolean,
        example=False,
    )


def _workers_allowed(config: Mapping[str, Any]) -> str:
    """vector_workers' allowed values in this config: its batch_size_run, the cores here."""
    envs = config.get("batch_size_run")
    most = f"batch_size_run ({envs})" if is_int(envs) else "batch_size_run"
    return (
        f"an integer from 0 (step the envs in the training process) to {most}, or null "
        f"(one per core, {available_cores()} here)"
    )


# parsed keys by the reprs of their values and batch_size_run (repr tells True from 1):
# the keys the config check parses are the very object the runner gets
_parsed: dict[str, VectorKeys] = {}


def vector_keys(config: Mapping[str, Any]) -> VectorKeys:
    """The runner's keys of a config dict (missing ones take their defaults), parsed
    once per process for the same values; ConfigError with one line if bad."""
    values = [config.get(key, default) for key, default in defaults(VectorKeys).items()]
    memo = repr([*values, config.get("batch_size_run")])
    if memo not in _parsed:
        allowed = {"vector_workers": _workers_allowed(config)}
        parsed = parse(VectorKeys, config, allowed=allowed)
        envs: Any = config.get("batch_size_run")
        workers = parsed.vector_workers
        if workers is not None and is_int(envs) and workers > envs:
            raise refused(
                setting(VectorKeys, "vector_workers"), workers, allowed=allowed["vector_workers"]
            )
        _parsed[memo] = parsed
    return _parsed[memo]


def worker_count(vector: VectorKeys, envs: int) -> int:
    """How many worker processes step a batch of `envs` envs: `vector_workers`, or when
    it is null one per core but never more than the envs; 0 = no workers."""
    if vector.vector_workers is None:
        return min(available_cores(), envs)
    return vector.vector_workers


def check_vector_config(config: Mapping[str, Any]) -> None:
    """`vector_workers`: null or an integer from 0 to batch_size_run; `rware_batched`,
    `smaclite_batched`: booleans."""
    vector_keys(config)
