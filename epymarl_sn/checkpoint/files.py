"""A checkpoint on disk: a directory `checkpoint/` in the run's file-storage directory,
written as one unit.

It holds `state.pt` (the networks, optimisers, random streams, buffer, counters and
running statistics: torch.save of one dict), `metrics.json` (every metric point the
run had logged, as Sacred's metrics: name -> steps, values) and `meta.json` (t_env, the
config, the command, the stores' run ids, and the SHA-256 of the other two files),
written last.

Written into a temporary directory next to it, each file synced, then renamed into
place; the checkpoint before it stays as `checkpoint.prev/`. A stop at any moment
leaves `checkpoint/` whole (old or new) or, between the two renames, only
`checkpoint.prev/`: never a mix. `latest` takes the newest whole one, and says in one
line why it passed over a damaged one.
"""

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from epymarl_sn.errors import CheckpointError

NAME = "checkpoint"
PREVIOUS = "checkpoint.prev"
STATE, METRICS, META = "state.pt", "metrics.json", "meta.json"
_TMP_PREFIX = ".checkpoint.tmp-"
FORMAT = 1  # meta.json's `format`; a checkpoint of another format is refused


@dataclass(frozen=True)
class Checkpoint:
    """A whole checkpoint directory and its meta.json."""

    path: Path
    meta: dict[str, Any]

    @property
    def t_env(self) -> int:
        return int(self.meta["t_env"])

    def metrics(self) -> dict[str, dict[str, list[Any]]]:
        with open(self.path / METRICS) as f:
            metrics: dict[str, dict[str, list[Any]]] = json.load(f)
        return metrics


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _synced(path: Path, write: Callable[[Any], None], mode: str) -> None:
    with open(path, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(
    run_dir: Union[str, Path],
    save_state: Callable[[Path], None],
    metrics: dict[str, dict[str, list[Any]]],
    meta: dict[str, Any],
) -> Path:
    """Write a checkpoint into `run_dir` as one unit: `save_state(path)` writes
    state.pt; returns the checkpoint's path."""
    run_dir = Path(run_dir)
    for left in run_dir.glob(_TMP_PREFIX + "*"):  # of a writer stopped mid-way
        shutil.rmtree(left, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=_TMP_PREFIX))
    try:
        save_state(tmp / STATE)
        with open(tmp / STATE, "rb+") as f:
            os.fsync(f.fileno())
        _synced(tmp / METRICS, lambda f: json.dump(metrics, f), "w")
        meta = {
            **meta,
            "format": FORMAT,
            "sha256": {name: _sha256(tmp / name) for name in (STATE, METRICS)},
        }
        # default=str: a config value JSON has no type for is kept as its text, as
        # the resumed run's config is compared (checkpoint.config)
        _synced(
            tmp / META, lambda f: json.dump(meta, f, indent=1, sort_keys=True, default=str), "w"
        )
        _sync_dir(tmp)
        current, previous = run_dir / NAME, run_dir / PREVIOUS
        if current.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.rename(current, previous)
        os.rename(tmp, current)
        _sync_dir(run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return current


def remove(run_dir: Union[str, Path]) -> None:
    """Remove the run's checkpoints (newest last: a stop midway leaves the newest)."""
    for name in (PREVIOUS, NAME):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def problem(path: Union[str, Path]) -> Optional[str]:
    """What is wrong with the checkpoint directory `path`, None if it is whole."""
    path = Path(path)
    if not path.is_dir():
        return "it does not exist"
    try:
        with open(path / META) as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        return f"its {META} cannot be read ({type(err).__name__})"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return f"its {META} is not a checkpoint of format {FORMAT}"
    for name, digest in meta.get("sha256", {}).items():
        try:
            if _sha256(path / name) != digest:
                return f"its {name} does not match the checksum it was written with"
        except OSError as err:
            return f"its {name} cannot be read ({type(err).__name__})"
    return None


def read(path: Union[str, Path]) -> Checkpoint:
    """The whole checkpoint at `path`; CheckpointError in one line if it is not."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}")
    wrong = problem(path)
    if wrong is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: {wrong}")
    with open(path / META) as f:
        return Checkpoint(path, json.load(f))


def latest(run_dir: Union[str, Path], say: Callable[[str], None]) -> Optional[Checkpoint]:
    """The run's newest whole checkpoint, None if it has none; a damaged newest one is
    passed over with one line (`say`), a damaged one alone raises CheckpointError."""
    run_dir = Path(run_dir)
    found = [run_dir / n for n in (NAME, PREVIOUS) if (run_dir / n).exists()]
    damaged: list[tuple[Path, str]] = []
    for path in found:
        wrong = problem(path)
        if wrong is None:
            for bad, why in damaged:
                say(f"checkpoint {bad} is damaged ({why}); using the previous one, {path}")
            return read(path)
        damaged.append((path, wrong))
    if damaged:
        bad, why = damaged[0]
        raise CheckpointError(
            f"checkpoint {bad} is damaged ({why}) and the run has no whole one to resume "
            "from; run it again from the start"
        )
    return None
