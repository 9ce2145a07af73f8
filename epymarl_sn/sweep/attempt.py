"""One attempt of one run: `python src/main.py ...` in its own process group, its
output in a log file, stopped at a timeout or when the sweep is interrupted, and
its stored runs never left RUNNING once its process is gone.

`execute` is what both pools run, in a local thread or as a Ray task on any node. A
stopped run of the same command with a checkpoint in that node's file storage goes on
from it (`sweep.resume.stopped_checkpoint`) rather than start again.
A watchdog (`guard`) kills the run's process group and marks its stored runs if the
process running `execute` dies first. While the run goes, `execute` reports the
env steps EPyMARL logs (`t_env: N / M`) to the sweep's progress bar.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Union

from epymarl_sn.checkpoint.config import RESUME_ENV
from epymarl_sn.sweep.resume import KILLED, stopped_checkpoint
from epymarl_sn.tracking.store import settle_runs
from epymarl_sn.waiting import Deadline

TAIL_BYTES = 64 * 1024
GRACE_S = 30  # for Sacred to record an interrupted run before it is killed
POLL_S = 0.5
T_ENV = re.compile(rb"t_env: (\d+) / (\d+)")  # what EPyMARL's run.py logs as it trains


class AttemptResult(NamedTuple):
    """What one attempt hands back."""

    code: int  # the run's exit code
    tail: list[str]  # the output's last lines
    log: str  # the log's path (on a Ray node, on that node)


def attempt_comment(label: str) -> str:
    """The Sacred `--comment` that finds an attempt's stored runs again."""
    return f"epymarl-sn sweep: {label} [{uuid.uuid4().hex[:12]}]"


def _stop(proc: "subprocess.Popen[bytes]") -> None:
    """SIGTERM, so that the run checkpoints and Sacred records it (not SIGINT: a run
    started by a Ray worker inherits SIGINT ignored); then the whole process group."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc)
    proc.wait()


def _kill_group(proc: "subprocess.Popen[bytes]") -> None:
    # a run's env workers must not outlive it (they would block on their pipes)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ended(code: int) -> str:
    if code < 0:
        return f"{KILLED}{signal.Signals(-code).name}"
    return f"its process exited with code {code} before Sacred recorded the end"


def settle(
    checkout: Union[str, Path],
    env: Mapping[str, str],
    comment: str,
    status: str,
    reason: str,
    replace_reason: bool = False,
) -> list[str]:
    """Stored runs of this attempt never stay RUNNING: mark them in the checkout's
    file storage and in MongoDB when `env` has SACRED_MONGO_URL (`replace_reason`: the
    sweep stopped the run, with a SIGTERM that the run recorded as its reason). -> lines
    for the output tail, one per store that could not be reached."""
    stores = [str(Path(checkout) / "results" / "sacred")]  # always written, as main.py does
    if env.get("SACRED_MONGO_URL"):
        stores.append(env["SACRED_MONGO_URL"])
    lines = []
    for store in stores:
        try:
            settle_runs(store, comment, status, reason, replace_reason)
        except Exception as err:  # a side service must not lose the sweep's result
            where = "MongoDB" if store == env.get("SACRED_MONGO_URL") else store
            lines.append(
                f"epymarl-sn sweep: could not mark the run {status} in {where} "
                f"({type(err).__name__})"
            )
    return lines


def _start_guard(proc, checkout, env, comment, log):
    guard = subprocess.Popen(
        [sys.executable, "-m", "epymarl_sn.sweep.guard", str(proc.pid), str(checkout), comment],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    guard.wait()  # its first process exits once the watchdog is detached
    return guard.stdin


class Steps:
    """The env steps a run's log reports last, read as the log grows."""

    def __init__(self, log_path: Union[str, Path]) -> None:
        self._log = open(log_path, "rb")  # noqa: SIM115 (read as the run writes; closed by close())
        self._rest = b""

    def read(self) -> Optional[tuple[int, int]]:
        """-> (t_env, t_max) of the newest `t_env: N / M` line since the last call, or None."""
        lines, _, self._rest = (self._rest + self._log.read()).rpartition(b"\n")
        found = T_ENV.findall(lines)
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    def close(self) -> None:
        self._log.close()


def execute(
    argv: list[str],
    checkout: Union[str, Path],
    env: dict[str, str],
    log_path: Union[str, Path],
    timeout: Optional[float] = None,
    comment: Optional[str] = None,
    stop: Optional[threading.Event] = None,
    report: Optional[Callable[[int, int], None]] = None,
    tail_lines: int = 15,
) -> AttemptResult:
    """Run `python src/main.py ARGV` in the checkout, its output into log_path
    (relative to the checkout, or absolute), stopping it after `timeout` seconds
    (None: no limit) or when `stop` (an Event) is set or the caller is interrupted.
    `report(t_env, t_max)` is called as the run logs its env steps.

    The run gets its own process group, killed as a whole when it ends or when
    the process running execute dies, and Sacred's `--comment COMMENT`; whatever
    ended the process, none of its stored runs is left RUNNING. On a Ray node,
    `checkout` is a path on that node.
    """
    checkout = Path(checkout)
    log_path = checkout / log_path
    if not (checkout / "src" / "main.py").is_file():
        missing = (
            f"epymarl-sn sweep: no EPyMARL checkout at {checkout} on "
            f"{socket.gethostname()}: put it there, or give this node's path in "
            "EPYMARL_SN_CHECKOUT when starting its Ray node"
        )
        return AttemptResult(2, [missing], str(log_path))
    comment = comment or attempt_comment(f"{log_path.parent.name}/{log_path.stem}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = Deadline(timeout)
    why = None
    run_env = {**os.environ, **env}
    said: list[str] = []
    checkpoint = stopped_checkpoint(checkout, argv, said.append)
    if checkpoint is not None:
        # the same run goes on, from where it stopped (checkpoint.resume)
        run_env[RESUME_ENV] = str(checkpoint.path)
        said.append(
            f"resuming {checkpoint.path.parent} from its checkpoint at t_env {checkpoint.t_env}"
        )
    with open(log_path, "wb") as log:
        log.write("".join(f"epymarl-sn sweep: {line}\n" for line in said).encode())
        log.flush()
        proc = subprocess.Popen(
            [sys.executable, "src/main.py", *argv, f"--comment={comment}"],
            cwd=checkout,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=run_env,
            start_new_session=True,
        )
        guard = _start_guard(proc, checkout, run_env, comment, log)
        steps = Steps(log_path)
        try:
            while proc.poll() is None and why is None:
                try:
                    proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    pass
                progress = steps.read()
                if progress and report:
                    report(*progress)
                if deadline.passed():
                    # e.g. EPyMARL's parallel runner waits forever on an env that failed
                    why = f"stopped by epymarl-sn sweep after the --timeout of {timeout:g} s"
                elif stop is not None and stop.is_set():
                    why = "stopped: the sweep was interrupted"
        except KeyboardInterrupt:  # a cancelled Ray task
            why = "stopped: the sweep was interrupted"
        steps.close()
        if why is not None:
            _stop(proc)
        _kill_group(proc)
        try:
            guard.write(b"ended by execute\n")
            guard.close()
        except BrokenPipeError:
            pass  # the watchdog was killed: nothing left for it to do anyway
    code = proc.returncode
    stopped_here = why is not None  # with a SIGTERM, which the run records as its reason
    if why is None and code != 0:
        why = _ended(code)
    notes = settle(
        checkout,
        env,
        comment,
        "INTERRUPTED" if why and why.startswith("stopped") else "FAILED",
        why or _ended(code),
        replace_reason=stopped_here,
    )
    with open(log_path, "rb") as log:
        # a long run's log is large; its end is what explains a failure
        log.seek(max(0, log_path.stat().st_size - TAIL_BYTES))
        lines = log.read().decode(errors="replace").splitlines()
    tail = [ln for ln in lines if ln.strip()][-tail_lines:] + notes
    if why is not None and why.startswith("stopped"):
        tail.append(f"epymarl-sn sweep: {why}")
        # a run stopped early has failed, whatever it exited with
        return AttemptResult(code or 1, tail, str(log_path))
    return AttemptResult(code, tail, str(log_path))
