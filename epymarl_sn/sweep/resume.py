"""Which runs of a sweep the store already holds as COMPLETED, so that re-running a
spec after a crash runs only what is missing; which some process still runs; and
which stopped run an attempt goes on from (`stopped_checkpoint`) rather than start again.

A stored run counts as one of the sweep's runs when its config has every value the
run would get: the whole config main.py resolves (default.yaml, the env config, the
preset, each override and the seed), key by key. A run made by hand with the same
arguments counts too. A key the stored run lacks is not compared: the run was stored
before a preset gained that key.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Union

from epymarl_sn.checkpoint.files import NAME, PREVIOUS, Checkpoint, latest
from epymarl_sn.errors import CheckpointError, StoreError
from epymarl_sn.resources import main_config
from epymarl_sn.sweep.spec import RunSpec
from epymarl_sn.tracking.store import FileStore, Run, open_store, parse_filters
from epymarl_sn.values import dotted_get, dotted_keys, dotted_set, same


def store_name(location: str) -> str:
    """The store as the output names it: a MongoDB URL without its credentials."""
    return str(open_store(location, must_exist=False))


def expected_config(run: RunSpec, checkout: Union[str, Path]) -> dict[str, Any]:
    """The whole config of a run (nested), as main.py will resolve and store it."""
    config = main_config(checkout, run.env_config, run.config)
    for key, value in run.overrides:
        dotted_set(config, key, value)
    config["seed"] = run.seed
    return config


def _same_run(stored: Run, wanted: dict[str, Any], keys: list[str]) -> bool:
    missing = object()
    for key in keys:
        value = stored.get(key, missing) if key != "critic_sn" else stored.config.get(key, missing)
        if value is not missing and not same(value, dotted_get(wanted, key)):
            return False
    return True


def _matching(runs, checkout, location, status):
    """Indexes of `runs` -> their stored runs with `status` in the store at `location`,
    in start order."""
    # (a directory where no run has been stored yet holds none)
    stored = open_store(location, must_exist=False).runs(parse_filters([f"status={status}"]))
    found = {}
    for i, run in enumerate(runs):
        wanted = expected_config(run, checkout)
        keys = list(dotted_keys(wanted))
        hits = [s for s in stored if _same_run(s, wanted, keys)]
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


# how an attempt settles a run whose process was killed (sweep.attempt): no error of
# the run's own, which a resumed run would meet again
KILLED = "its process was killed by "


def _stopped(run: Run) -> bool:
    """Whether a run stopped without finishing and without an error of its own:
    INTERRUPTED, killed by a signal, or RUNNING with no process left (stale)."""
    if run.status == "INTERRUPTED" or run.stale_s() is not None:
        return True
    return run.status == "FAILED" and (run.stop_reason or "").startswith(KILLED)


def stopped_checkpoint(
    checkout: Union[str, Path], argv: Sequence[str], say: Callable[[str], None]
) -> Optional[Checkpoint]:
    """The newest whole checkpoint, in the checkout's file storage, of a stopped run
    that this command (`src/main.py ARGV`, any `--comment`) started in this checkout;
    None if there is none. Damaged checkpoints are passed over with a line (`say`)."""
    checkout = Path(checkout).resolve()
    root = checkout / "results" / "sacred"
    if not root.is_dir():
        return None
    store = FileStore(root)
    run_dirs = {p.parent.parent for n in (NAME, PREVIOUS) for p in root.rglob(f"{n}/meta.json")}
    found: list[Checkpoint] = []
    for run_dir in sorted(run_dirs):
        try:
            if not _stopped(store.run(run_dir.relative_to(root).as_posix())):
                continue
            checkpoint = latest(run_dir, say)
        except (CheckpointError, StoreError) as err:
            say(f"not resuming {run_dir}: {err}")
            continue
        if checkpoint is None:
            continue
        meta = checkpoint.meta
        command = [a for a in meta["argv"][1:] if not a.startswith("--comment")]
        if command == list(argv) and Path(meta["cwd"]).resolve() == checkout:
            found.append(checkpoint)
    return max(found, key=lambda c: c.t_env, default=None)
