"""A sweep's data kept with the code: the spec's `data_dir`.

After each run of the sweep that finishes COMPLETED, its compact record goes to
DATA_DIR/<index>_<config>_<task>_seed<seed>/ as a Sacred file-storage run
(config.json, run.json, metrics.json), so `epymarl-sn plot --store DATA_DIR` reads
it directly. Kept: the whole config; the status, start and stop times, host, and
EPyMARL's commit as Sacred recorded them; the git commit of this plugin's code
(`epymarl_sn.commit`, `dirty` when its code had uncommitted changes); and only the
metrics the figures and tables need (KEPT_METRICS: no models, no losses), each
value to 7 significant digits. DATA_DIR/spec.yaml is the spec that made it.

A sweep with a `data_dir` counts the runs it holds as done, like those COMPLETED in
the store: on a new machine with only the repository, the same command runs only
what DATA_DIR lacks. Before a sweep runs, runs COMPLETED in the store that DATA_DIR
lacks (a sweep killed between a run's end and its copy) are copied; a copy that
fails (MongoDB down) is a warning, and the next sweep copies it.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import epymarl_sn
from epymarl_sn.errors import EpymarlSnError, SpecError
from epymarl_sn.sweep.resume import completed, completed_runs
from epymarl_sn.sweep.spec import RunSpec
from epymarl_sn.tracking.atomic import write_text
from epymarl_sn.tracking.export import export_compact
from epymarl_sn.tracking.store import open_store

# the curves of Figs. 2-5 and of the convergence tables, for RWARE and SMAC(lite)
KEPT_METRICS = (
    "return_mean",
    "return_std",
    "test_return_mean",
    "test_return_std",
    "ep_length_mean",
    "test_ep_length_mean",
    "episode",
    "*battle_won_mean",
    "*dead_enemies_mean",
    "*dead_allies_mean",
    "critic_grad_norm",
    "critic_grad_norm_clipped_weights",
    "critic_grad_scale",
    "critic_sigma_layer*",
)
SPEC_FILE = "spec.yaml"
# the plugin's code, for `dirty`: what a data commit (docs/data) changes is not code
CODE_PATHS = ("epymarl_sn", "config", "patches", "setup.py")


def data_location(data_dir: Path, spec: Path) -> Path:
    """The spec's data_dir, absolute, checked: its parent exists (a sweep started in
    another directory would otherwise begin a second, empty copy and rerun every
    run), and a spec.yaml already there is this spec (comments aside)."""
    where = data_dir if data_dir.is_absolute() else Path.cwd() / data_dir
    if where.exists() and not where.is_dir():
        raise SpecError(f"data_dir {data_dir} is a file, not a directory; give a directory path")
    if not where.parent.is_dir():
        raise SpecError(
            f"data_dir {data_dir}: there is no directory {where.parent}; start the sweep "
            "in the directory data_dir is relative to (the repository's root for "
            "docs/data/...), or create it"
        )
    writable = where if where.is_dir() else where.parent
    if not os.access(writable, os.W_OK):
        raise SpecError(
            f"data_dir {data_dir}: {writable} cannot be written (no write permission or a "
            "read-only file system); give a data_dir you can write"
        )
    saved = where / SPEC_FILE
    if saved.is_file() and yaml.safe_load(saved.read_text()) != yaml.safe_load(spec.read_text()):
        raise SpecError(
            f"data_dir {data_dir} holds the runs of another spec ({saved} differs from "
            f"{spec}); give this spec a data_dir of its own"
        )
    return where


def code_commit() -> dict[str, Any]:
    """{"commit": SHA, "dirty": bool} of the plugin's git checkout, or
    {"version": V} when it was installed from elsewhere (a wheel)."""
    root = Path(epymarl_sn.__file__).resolve().parent.parent
    if (root / ".git").exists():
        try:

            def git(*args: str) -> str:
                return subprocess.run(
                    ["git", "-C", str(root), *args],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=60,
                ).stdout.strip()

            status = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
            return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status)}
        except (OSError, subprocess.SubprocessError):
            pass  # no git here: the version says less, but something
    return {"version": metadata.version("epymarl-sn")}


def record_name(index: int, run: RunSpec) -> str:
    """A run's directory in DATA_DIR; the grid index keeps apart variants of a config."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{index:03d}_{run.config}_{run.task}_seed{run.seed}")


def held(runs: Sequence[RunSpec], checkout: Path, where: Path) -> set[int]:
    """Indexes of `runs` whose COMPLETED record DATA_DIR holds."""
    return completed(runs, checkout, str(where))


def save_finished(
    runs: Sequence[RunSpec],
    indexes: Iterable[int],
    checkout: Path,
    location: str,
    where: Path,
    spec: Path,
    code: dict[str, Any],
) -> list[int]:
    """Copy the COMPLETED runs `indexes` from the store at `location` to DATA_DIR
    (`where`), those it does not hold yet. -> the indexes copied. Never raises for a
    store or file problem: a run's data stays in the store, and a warning says so."""
    copied: list[int] = []
    try:
        wanted = set(indexes) - held(runs, checkout, where)
        if not wanted:
            return copied
        where.mkdir(exist_ok=True)
        if not (where / SPEC_FILE).is_file():
            write_text(where / SPEC_FILE, spec.read_text())
        found = completed_runs([runs[i] for i in sorted(wanted)], checkout, location)
        store = open_store(location)
        for j, i in enumerate(sorted(wanted)):
            dest = where / record_name(i, runs[i])
            if j not in found:
                warn(f"{runs[i].label} is not COMPLETED in {location}; not copied to {where}")
            elif dest.exists():
                warn(f"{dest} exists and is not this run's record; {runs[i].label} not copied")
            else:
                extra = {"epymarl_sn": {**code, "spec": SPEC_FILE}}
                export_compact(store, found[j][0], KEPT_METRICS, dest, extra)
                copied.append(i)
    except (EpymarlSnError, OSError) as err:
        warn(f"could not copy finished runs to {where} ({err}); the next sweep copies them")
    return copied


def warn(message: str) -> None:
    print(f"epymarl-sn sweep: warning: {message}", file=sys.stderr)
