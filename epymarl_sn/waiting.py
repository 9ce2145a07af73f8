"""Waiting with a limit: deadlines, retries, and stopping a process.

    deadline = Deadline(60.0)                       # None: no limit
    ready = wait_until(server_answers, deadline, every_s=0.2, give_up=server_died)
    client = retry(connect_once, Deadline(3600), every_s=10, errors=(PyMongoError,))
    stop_process(proc, grace_s=10)                  # SIGTERM, wait, then SIGKILL
    die_with_parent(parent_pid)                     # in a child: gone with its parent

A small helper rather than a retry library: each caller also needs to give up early
(a process that died) or to share one deadline across steps, and training code loads
this module, so it adds no dependency.
"""

import os
import signal
import subprocess
import sys
import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


class Deadline:
    """A point `seconds` from now on the monotonic clock; None never passes."""

    def __init__(self, seconds: Optional[float]) -> None:
        self._at = None if seconds is None else time.monotonic() + seconds

    def passed(self) -> bool:
        return self._at is not None and time.monotonic() > self._at


def _never() -> bool:
    return False


def wait_until(
    ready: Callable[[], bool],
    deadline: Deadline,
    every_s: float,
    give_up: Callable[[], bool] = _never,
) -> bool:
    """Call `ready` until it returns True, sleeping `every_s` between calls; stop
    early once `deadline` has passed or `give_up()` holds. -> whether it got ready."""
    while not ready():
        if give_up() or deadline.passed():
            return False
        time.sleep(every_s)
    return True


def retry(
    call: Callable[[], T],
    deadline: Deadline,
    every_s: float,
    errors: "tuple[type[Exception], ...]",
    give_up: Callable[[], bool] = _never,
) -> T:
    """`call()`'s result, calling again `every_s` after each of `errors`; once
    `deadline` has passed or `give_up()` holds, the last of them is raised."""
    while True:
        try:
            return call()
        except errors:
            if give_up() or deadline.passed():
                raise
        time.sleep(every_s)


def stop_process(proc: "subprocess.Popen[bytes]", grace_s: float) -> None:
    """End `proc` by its own PID: SIGTERM, up to `grace_s` to exit, then SIGKILL;
    returns once it is gone (nothing to do if it has ended already)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def die_with_parent(parent_pid: int) -> None:
    """Run in a child (a Popen `preexec_fn`, or first thing in a worker): SIGKILL it
    when `parent_pid`, the process that started it, dies, even by SIGKILL (Linux's
    parent-death signal). SIGKILL, not SIGTERM: a server's own graceful stop can
    wedge under load and outlive its owner for good (seen with the local MongoDB
    server), and what it holds is already safe (the server syncs each commit)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # it died before the signal was set
        os._exit(1)
