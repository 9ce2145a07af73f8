"""How a training run stops early: on Ctrl-C, SIGTERM, SIGHUP or SIGUSR1 (`kill`, Slurm
at or ahead of a job's time limit, `docker stop`, a cancelled Ray task, a closed
terminal), or on a full disk. Installed by the plugin's FileStorageObserver when the
run starts (`install`), in the training process only.

- In the training loop of a run with checkpoints, the first such signal is deferred
  (`checkpoint.signals`): the run writes a checkpoint at the next batch boundary, then
  raises the signal again, and stops as below; a second signal stops it at once.

- The signal raises `RunStopped` (a KeyboardInterrupt) in the main thread. Sacred
  records a KeyboardInterrupt's STATUS: INTERRUPTED for a signal, FAILED for a full
  disk. The observers add `stop_reason` (`stop_reason()`), e.g. `stopped by SIGTERM`.
- The env workers are stopped at once (they hold the pipes of Sacred's output
  capture, which waits for them). Then, instead of a traceback, one line says what
  stopped the run, and the process exits with 128 + the signal (130 for Ctrl-C, 143 for
  SIGTERM), or 1 for a full disk.
- Another thread (the observers write from Sacred's heartbeat thread) asks for a stop
  with `request_stop`; the main thread then stops as on a signal.
- Env workers forked from the training process inherit the handler: there it lets
  the training process handle Ctrl-C, and exits quietly on the other signals (the
  `vector` runner's workers ignore them all; the training process kills them).
"""

import _thread
import multiprocessing
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Optional

from epymarl_sn.checkpoint import signals
from epymarl_sn.console import say

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
RETRY_S = 0.5  # a signal that came while the main thread handled an error comes again


class RunStopped(KeyboardInterrupt):
    """Sacred records a KeyboardInterrupt with the status its STATUS names."""

    def __init__(self, status: str, reason: str, exit_code: int) -> None:
        super().__init__(reason)
        self.STATUS = status
        self.reason = reason
        self.exit_code = exit_code


_main_pid: Optional[int] = None
_pending: Optional[RunStopped] = None  # asked for by another thread
_stopping: Optional[RunStopped] = None  # raised in the main thread


def install() -> None:
    """Handle the stop signals and print a stop as one line; in the main thread."""
    global _main_pid
    if _main_pid == os.getpid():
        return
    _main_pid = os.getpid()
    for sig in SIGNALS:
        # a run started with a signal ignored (nohup, `cmd &` in a script) keeps ignoring it
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _on_signal)
    sys.excepthook = _excepthook


def stop_reason() -> Optional[str]:
    """Why the run is stopping, once it is."""
    return _stopping.reason if _stopping is not None else None


def request_stop(status: str, reason: str) -> None:
    """Stop the run from any thread: the main thread raises RunStopped."""
    global _pending
    if _pending is None and _stopping is None:
        _pending = RunStopped(status, reason, exit_code=1)
        _thread.interrupt_main(signal.SIGTERM)  # runs _on_signal in the main thread


def stop_now(status: str, reason: str) -> RunStopped:
    """The RunStopped for the main thread to raise (a second stop keeps the first)."""
    global _stopping
    if _stopping is None:
        _stopping = RunStopped(status, reason, exit_code=1)
        _stop_workers()
    return _stopping


def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
    global _stopping
    if os.getpid() != _main_pid:
        # a forked env worker: the training process stops it
        if signum == signal.SIGINT:
            return
        os._exit(128 + signum)
    if _stopping is not None:
        return  # already stopping: its end is being recorded
    if _pending is None and signals.take(signum):
        return  # the runner checkpoints at the next batch boundary, then raises it again
    if sys.exc_info()[0] is not None:
        # the main thread is in an except block (Sacred recording a failure, or any
        # other): raising here would cut that short, so the signal comes again shortly
        retry = threading.Timer(RETRY_S, _thread.interrupt_main, args=(signum,))
        retry.daemon = True
        retry.start()
        return
    name = signal.Signals(signum).name
    _stopping = _pending or RunStopped(
        "INTERRUPTED", f"stopped by {name}{signals.note()}", 128 + signum
    )
    _stop_workers()
    raise _stopping


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: Optional[TracebackType]
) -> None:
    stopped = exc if isinstance(exc, RunStopped) else _stopping
    if stopped is None and not isinstance(exc, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    if stopped is None:  # a KeyboardInterrupt raised by other code than ours
        stopped = RunStopped("INTERRUPTED", "stopped by SIGINT", 128 + signal.SIGINT)
    say(f"run {stopped.STATUS}: {stopped.reason}")
    _stop_workers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # at once: the run's end is recorded, and threads blocked on dead workers or a
    # dead MongoDB must not hold the process
    os._exit(stopped.exit_code)


def _stop_workers() -> None:
    # killed: an env worker holds nothing a clean exit would save (a worker of
    # EPyMARL's parallel runner exits at once on SIGTERM; the vector runner's ignore it)
    children = multiprocessing.active_children()
    for child in children:
        child.kill()
    for child in children:
        child.join()
