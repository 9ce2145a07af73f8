"""The training loop's checkpoints: EPyMARL's `run_sequential` (patched) calls the
runner's `resume_loop` once before its loop and `batch_boundary` at the top of each
iteration, where every env is about to be reset and the learner has finished its
update; the `vector` runner hands both to a `Checkpointer`.

At a boundary it writes a checkpoint every `checkpoint_interval` env steps, and when a
stop signal was deferred (`checkpoint.signals`), after which it raises that signal
again and the run stops as INTERRUPTED. A resumed run (EPYMARL_SN_RESUME) gets every
piece of state back in `resume_loop`, so that its next batch is the one the stopped run
would have run.
"""

import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Protocol

import torch as th

from epymarl_sn.checkpoint import files, signals, state
from epymarl_sn.checkpoint.config import checkpoint_interval, resumed_from
from epymarl_sn.errors import CheckpointError


class CheckpointedRunner(Protocol):
    """What a runner gives the checkpoint besides EPyMARL's runner attributes."""

    args: SimpleNamespace
    logger: Any
    t_env: int

    def runner_state(self) -> dict[str, Any]: ...

    def set_runner_state(self, saved: dict[str, Any]) -> None: ...


def file_storage_dir(run: Any) -> Optional[Path]:
    """The directory of the Sacred run's file-storage observer (EPyMARL always has one)."""
    for observer in getattr(run, "observers", ()):
        if hasattr(observer, "basedir") and getattr(observer, "dir", None):
            return Path(observer.dir).resolve()
    return None


def store_ids(run: Any) -> dict[str, Any]:
    """The run's id in each store: file storage and, where it has one, MongoDB."""
    ids: dict[str, Any] = {"file_storage": str(file_storage_dir(run))}
    for observer in getattr(run, "observers", ()):
        runs = getattr(observer, "runs", None)
        entry = getattr(observer, "run_entry", None)
        if runs is not None and entry is not None and "_id" in entry:
            ids["mongo"] = {"id": entry["_id"], "db": runs.database.name}
    return ids


class Checkpointer:
    def __init__(self, runner: CheckpointedRunner, run_dir: Path, interval: int) -> None:
        self.runner = runner
        self.run_dir = run_dir
        self.interval = interval
        self.last_t = 0  # t_env of the last checkpoint

    @classmethod
    def start(
        cls, runner: CheckpointedRunner, loop: SimpleNamespace, learner: Any, buffer: Any
    ) -> "Optional[Checkpointer]":
        """The run's checkpointer (None where checkpoints are off or cannot apply, with
        one log line); the resumed run's state put back."""
        log = runner.logger.console_logger.info
        interval = checkpoint_interval(vars(runner.args))
        resume = resumed_from()
        run_dir = file_storage_dir(getattr(runner.logger, "_run_obj", None))
        reason = None
        if interval == 0:
            reason = "checkpoint_interval is 0"
        elif run_dir is None:
            reason = "the run has no file storage"
        else:
            try:  # every piece must be savable, or none is saved
                state.learner_state(learner)
                runner.runner_state()
            except CheckpointError as err:
                reason = str(err)
        if reason is not None:
            if resume is not None:
                raise CheckpointError(f"cannot resume from {resume}: {reason}")
            log(f"checkpoints: none for this run ({reason})")
            return None
        assert run_dir is not None
        self = cls(runner, run_dir, interval)
        if resume is not None:
            self._restore(files.read(resume), loop, learner, buffer)
            log(f"checkpoints: resumed from {resume} at t_env {runner.t_env}")
        else:
            log(f"checkpoints: every {interval} env steps and on a stop signal, in {run_dir}")
        signals.defer(True)
        return self

    def boundary(self, loop: SimpleNamespace, learner: Any, buffer: Any) -> None:
        t_env = self.runner.t_env
        signum = signals.pending()
        if signum is None and (t_env == self.last_t or t_env - self.last_t < self.interval):
            return
        path = self.write(loop, learner, buffer)
        if signum is not None:
            signals.defer(False)
            signals.set_note(f"; checkpoint at t_env {t_env} in {path}")
            # the stop handler records the stop, as for a signal not deferred
            signal.raise_signal(signum)

    def stop(self) -> None:
        """The training loop ended: a later signal stops the run at once, and the
        checkpoints go (a finished run is not resumed; on SMAClite's corridor one holds
        about 25 MB of buffer)."""
        signals.defer(False)
        files.remove(self.run_dir)

    def write(self, loop: SimpleNamespace, learner: Any, buffer: Any) -> Path:
        runner = self.runner
        started = time.perf_counter()
        run = runner.logger._run_obj
        whole = {
            "loop": dict(vars(loop)),
            "last_checkpoint_t": runner.t_env,
            "unique_token": runner.args.unique_token,
            "random": state.random_streams(),
            "learner": state.learner_state(learner),
            "buffer": state.buffer_state(buffer),
            "runner": runner.runner_state(),
            "logger": state.logger_state(runner.logger),
        }
        meta = {
            "t_env": runner.t_env,
            "episode": loop.episode,
            "written": time.time(),
            "config": dict(run.config),
            "argv": list(sys.argv),
            "cwd": str(Path.cwd()),
            "stores": store_ids(run),
        }
        metrics = state.logged_metrics(runner.logger)
        path = files.write(self.run_dir, lambda p: th.save(whole, p), metrics, meta)
        self.last_t = runner.t_env
        seconds = time.perf_counter() - started
        runner.logger.console_logger.info(
            f"checkpoints: t_env {runner.t_env} written to {path} in {seconds:.2f}s"
        )
        return path

    def _restore(
        self, checkpoint: files.Checkpoint, loop: SimpleNamespace, learner: Any, buffer: Any
    ) -> None:
        runner = self.runner
        whole = th.load(checkpoint.path / files.STATE, weights_only=False)
        for key, value in whole["loop"].items():
            setattr(loop, key, value)
        self.last_t = whole["last_checkpoint_t"]
        # the models go on being saved where the stopped run saved them
        runner.args.unique_token = whole["unique_token"]
        state.set_learner_state(learner, whole["learner"])
        state.set_buffer_state(buffer, whole["buffer"])
        runner.set_runner_state(whole["runner"])
        state.set_logger_state(runner.logger, whole["logger"])
        # last: building the run consumed random numbers the stopped run had not
        state.set_random_streams(whole["random"])
