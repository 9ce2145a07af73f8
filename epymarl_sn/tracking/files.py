"""A training run's files: never half written, and a full disk stops the run cleanly.

- `DurableFileStorageObserver`: Sacred's FileStorageObserver (EPyMARL's
  results/sacred) whose JSON files (run.json, config.json, info.json, metrics.json)
  are replaced in one step: written to a temporary file in the same directory,
  synced, then renamed over the old one. A reader, or a run killed mid-write, sees
  the old file or the new one, never half of one. A stopped run's run.json gets
  `stop_reason` (see `tracking.stop`). `install_file_storage()` makes EPyMARL's
  main.py (`FileStorageObserver.create(path)`) build this one; the plugin calls it.
- The models EPyMARL saves (`th.save(obj, path)`) are written the same way, from
  the start of the run on (`atomic_torch_save`).
- A full disk (ENOSPC), a file system turned read-only or any other failed write of
  these stops the run: one line naming the path and why (the free space for a full
  disk), status FAILED with that reason where it can still be written, exit status
  1; the files written before keep their last complete version. A results directory
  that cannot be written at the start stops the run the same way before training.
- `run_dir(run_id)`: where it writes the run Sacred calls `run_id`, for the
  observers that start after it (Sacred gives an observer no handle on the others).
- A resumed run (`epymarl-sn resume`, EPYMARL_SN_RESUME) goes on in the stopped run's
  directory, under its id: status RUNNING again, its start time kept, the resume
  listed in run.json's `resumed`, its metrics cut back to its checkpoint's points
  (`checkpoint.metrics`), its output appended to cout.txt.
"""

import io
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

from sacred.observers import FileStorageObserver
from sacred.serializer import flatten

from epymarl_sn.checkpoint.config import resumed
from epymarl_sn.checkpoint.files import Checkpoint
from epymarl_sn.checkpoint.metrics import metrics_at_checkpoint
from epymarl_sn.errors import CheckpointError
from epymarl_sn.tracking import stop
from epymarl_sn.tracking.atomic import atomic_write, write_failure

# (the run id Sacred got, the run's directory) of the last DurableFileStorageObserver
# started in this process
_last_started: Optional[tuple[Any, str]] = None


class DurableFileStorageObserver(FileStorageObserver):
    """Sacred's FileStorageObserver with atomic JSON files and a clean stop on a full
    disk (see the module docstring)."""

    def started_event(
        self,
        ex_info: dict[str, Any],
        command: str,
        host_info: dict[str, Any],
        start_time: datetime,
        config: dict[str, Any],
        meta_info: dict[str, Any],
        _id: Any,
    ) -> Any:
        global _last_started
        # Sacred starts observers in the training process's main thread
        stop.install()
        atomic_torch_save()
        self._resume = resumed()
        before: dict[str, Any] = {}
        if self._resume is not None:
            self.dir = self._resumed_dir(self._resume)
            before = json.loads(Path(self.dir, "run.json").read_text())
            _id = os.path.relpath(self.dir, self.basedir)
        try:
            run_id = super().started_event(
                ex_info, command, host_info, start_time, config, meta_info, _id
            )
        except OSError as err:
            # no run directory (a read-only or full results directory): nothing recorded
            raise stop.stop_now("FAILED", write_failure(self.basedir, err)) from None
        if self._resume is not None:
            self._go_on(self._resume, before, start_time)
        _last_started = (run_id, self.dir)
        return run_id

    def _resumed_dir(self, checkpoint: Checkpoint) -> str:
        run_dir = Path(checkpoint.meta["stores"]["file_storage"])
        if run_dir.parent.resolve() != Path(self.basedir).resolve():
            raise CheckpointError(
                f"cannot resume from {checkpoint.path}: its run is in {run_dir.parent}, "
                f"this run's file storage is {self.basedir}; resume from the checkout "
                "that ran it"
            )
        return str(run_dir)

    def _make_run_dir(self, _id: Any) -> None:
        if self._resume is None:
            super()._make_run_dir(_id)
        # a resumed run's directory is set already, and exists

    def _go_on(self, checkpoint: Checkpoint, before: dict[str, Any], start_time: datetime) -> None:
        """The stopped run's record, going on: its start, its artifacts, the resume
        noted, its metrics as the checkpoint had them."""
        self.run_entry["start_time"] = before.get("start_time", self.run_entry["start_time"])
        self.run_entry["artifacts"] = before.get("artifacts", [])
        self.run_entry["resumed"] = before.get("resumed", []) + [
            {"time": start_time.isoformat(), "t_env": checkpoint.t_env}
        ]
        self.save_json(self.run_entry, "run.json")
        path = Path(self.dir, "metrics.json")
        stored = json.loads(path.read_text()) if path.exists() else {}
        metrics = metrics_at_checkpoint(stored, checkpoint.metrics(), start_time.isoformat())
        self.save_json(metrics, "metrics.json")

    # set by started_event, before any write (Sacred's type allows None)
    dir: str
    run_entry: dict[str, Any]
    _resume: Optional[Checkpoint] = None

    def save_json(self, obj: Any, filename: str) -> None:
        path = os.path.join(self.dir, filename)
        text = json.dumps(flatten(obj), sort_keys=True, indent=2)

        def write(tmp: str) -> None:
            with open(tmp, "w") as f:
                f.write(text)

        self._guarded(path, lambda: atomic_write(path, write))

    def save_cout(self) -> None:
        # appended to, as Sacred does: a cut last line of a log is no damage
        self._guarded(os.path.join(self.dir, "cout.txt"), super().save_cout)

    def interrupted_event(self, interrupt_time: datetime, status: str) -> None:
        if getattr(self, "run_entry", None) is None:
            return  # it never started (no run directory): there is nothing to record
        reason = stop.stop_reason()
        if reason:
            self.run_entry["stop_reason"] = reason
        super().interrupted_event(interrupt_time, status)

    @staticmethod
    def _guarded(path: str, write: Callable[[], None]) -> None:
        """A write that fails (a full disk, a file system turned read-only) stops the
        run (from whichever thread wrote) rather than make Sacred drop this observer,
        which would then lose every later metric and never record the run's end."""
        try:
            write()
        except OSError as err:
            stop.request_stop("FAILED", write_failure(path, err))


def run_dir(run_id: Any) -> Optional[str]:
    """The directory of the run `run_id` if this process's DurableFileStorageObserver
    started it. Sacred hands each observer's started_event the id that the first one
    (highest priority: this one) returned, as `_id`, but no handle on that observer."""
    if _last_started is not None and _last_started[0] == run_id:
        return _last_started[1]
    return None


def _create(cls: type, *args: Any, **kwargs: Any) -> DurableFileStorageObserver:
    return DurableFileStorageObserver(*args, **kwargs)


def install_file_storage() -> None:
    """EPyMARL's main.py builds its observer with `FileStorageObserver.create(path)`
    (a deprecated alias of the constructor): make that build the durable one."""
    FileStorageObserver.create = classmethod(_create)  # type: ignore[assignment,method-assign]


def atomic_torch_save() -> None:
    """Make `torch.save(obj, path)` write atomically, and stop the run on a full disk."""
    import torch

    original = torch.save
    if getattr(original, "atomic", False):
        return

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(f, (str, os.PathLike)):
            original(obj, f, *args, **kwargs)
            return
        # serialised in memory: torch reports a failed write of its own as a
        # RuntimeError that does not say why; a plain write says ENOSPC
        buffer = io.BytesIO()
        original(obj, buffer, *args, **kwargs)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as out:
                out.write(buffer.getbuffer())

        try:
            atomic_write(f, write)
        except OSError as err:
            raise stop.stop_now("FAILED", write_failure(f, err)) from None

    save.atomic = True  # type: ignore[attr-defined]
    torch.save = save
