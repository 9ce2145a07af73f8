"""Which runs of a sweep the store already holds as COMPLETED, so that re-running a
spec after a crash runs only what is missing; and which some process still runs.

A stored run counts as one of the sweep's runs when its config has every value the
run would get: the preset's `name`, the env config's `env`, `t_max`, each override
and the seed. A run made by hand with the same arguments counts too.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from epymarl_sn.resources import main_config
from epymarl_sn.sweep.spec import RunSpec
from epymarl_sn.tracking.store import Run, open_store, parse_filters
from epymarl_sn.values import same

IDENTITY_KEYS = ("name", "env", "t_max")


def store_name(location: str) -> str:
    """The store as the output names it: a MongoDB URL without its credentials."""
    return str(open_store(location, must_exist=False))


def expected_config(run: RunSpec, checkout: Union[str, Path]) -> dict[str, Any]:
    """The config values that identify a run, as main.py will store them."""
    config = main_config(checkout, run.env_config, run.config)
    values = {k: config[k] for k in IDENTITY_KEYS if k in config}
    return {**values, **dict(run.overrides), "seed": run.seed}


def _matching(runs, checkout, location, status):
    """Indexes of `runs` -> their stored runs with `status` in the store at `location`,
    in start order."""
    # (a directory where no run has been stored yet holds none)
    stored = open_store(location, must_exist=False).runs(parse_filters([f"status={status}"]))
    missing = object()
    found = {}
    for i, run in enumerate(runs):
        wanted = expected_config(run, checkout)
        hits = [s for s in stored if all(same(s.get(k, missing), v) for k, v in wanted.items())]
        if hits:
            found[i] = hits
    return found


def completed_runs(
    runs: Sequence[RunSpec], checkout: Union[str, Path], location: str
) -> dict[int, list[Run]]:
    """Indexes of `runs` -> their COMPLETED runs in the store at `location`, in start order."""
    return _matching(runs, checkout, location, "COMPLETED")


def completed(runs: Sequence[RunSpec], checkout: Union[str, Path], location: str) -> set[int]:
    """Indexes of `runs` that have a COMPLETED run in the store at `location`."""
    return set(completed_runs(runs, checkout, location))


def running(runs: Sequence[RunSpec], checkout: Union[str, Path], location: str) -> set[int]:
    """Indexes of `runs` that have a RUNNING run in the store that is not stale (a
    heartbeat or start under STALE_AFTER_S seconds old): a process somewhere still
    runs them."""
    return {
        i
        for i, hits in _matching(runs, checkout, location, "RUNNING").items()
        if any((s.heartbeat or s.start_time) and s.stale_s() is None for s in hits)
    }
