"""The `vector` runner's config keys `vector_workers` and `rware_batched`: their values
and their checks.

Kept apart from `runners.vector`, which imports EPyMARL's modules: the check runs
wherever the plugin is loaded, before a run starts.
"""

import os
from typing import Any

from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_int


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def vector_workers(config: dict[str, Any]) -> int:
    """How many worker processes step the envs: `vector_workers`, or when it is unset
    (or null) one per core but never more than the batch's envs; 0 = no workers."""
    workers = config.get("vector_workers")
    if workers is None:
        return min(available_cores(), config["batch_size_run"])
    return workers


# `rware_batched`: step RWARE envs with the batched backend (runners.rware_batch), in the
# training process, wherever it applies; False: rware's own envs in worker processes
RWARE_BATCHED_DEFAULT = True


def rware_batched(config: dict[str, Any]) -> bool:
    """Whether the vector runner may step RWARE envs with the batched backend."""
    return bool(config.get("rware_batched", RWARE_BATCHED_DEFAULT))


def check_vector_config(config: dict[str, Any]) -> None:
    """`vector_workers`: null or an integer from 0 to batch_size_run; `rware_batched`:
    a boolean."""
    batched = config.get("rware_batched", RWARE_BATCHED_DEFAULT)
    if not isinstance(batched, bool):
        raise ConfigError(
            f"rware_batched: {batched!r} is not allowed; allowed: True (RWARE envs stepped "
            "together in the training process, same episodes) or False (rware's own envs); "
            "set e.g. rware_batched=False"
        )
    workers = config.get("vector_workers")
    if workers is None:
        return
    envs = config.get("batch_size_run")
    if not is_int(workers) or workers < 0 or (is_int(envs) and workers > envs):
        most = f"batch_size_run ({envs})" if is_int(envs) else "batch_size_run"
        raise ConfigError(
            f"vector_workers: {workers!r} is not allowed; allowed: an integer from 0 (step "
            f"the envs in the training process) to {most}, or null (one per core, "
            f"{available_cores()} here); set e.g. vector_workers=0"
        )
