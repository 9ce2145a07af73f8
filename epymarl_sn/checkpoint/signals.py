"""A stop signal deferred to the next batch boundary, where the run writes a checkpoint
and then stops.

While a run with checkpoints is in its training loop (`defer(True)`), the stop handler
(`tracking.stop`) hands SIGINT, SIGTERM, SIGHUP and SIGUSR1 to `take`, which keeps the
first one; the runner sees it at the next batch boundary (`pending`), writes the
checkpoint, turns deferring off and raises the signal again, which the stop handler
then records as the run's stop (INTERRUPTED). A second signal before that boundary is
not deferred: the run stops at once, as without checkpoints.
"""

import signal
from typing import Optional

# Slurm sends SIGUSR1 ahead of a job's time limit with `--signal=USR1@SECONDS`
DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)

_deferring = False
_pending: Optional[int] = None
_note = ""  # what the stop reason adds: where the checkpoint was written


def defer(on: bool) -> None:
    """Defer stop signals to the next batch boundary (on), or stop at once (off)."""
    global _deferring, _pending
    _deferring = on
    if not on:
        _pending = None


def take(signum: int) -> bool:
    """The stop handler's question: whether this signal is deferred (kept for the next
    batch boundary) rather than stopping the run now."""
    global _pending
    if not _deferring or _pending is not None or signum not in DEFERRED:
        return False
    # nothing printed here: a handler that prints can interrupt the main thread's own
    # print, which raises; the boundary says it
    _pending = signum
    return True


def pending() -> Optional[int]:
    """The deferred signal, if one came."""
    return _pending


def set_note(note: str) -> None:
    global _note
    _note = note


def note() -> str:
    """What the stop reason adds, e.g. `; checkpoint at t_env 12000`."""
    return _note
