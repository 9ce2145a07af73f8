"""One attempt of one run: `python src/main.py ...` in its own process group, its
output in a log file, stopped at a timeout or when the sweep is interrupted, and
its stored runs never left RUNNING once its process is gone.

`execute` is what both pools run, in a local thread or as a Ray task on any node.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from epymarl_sn.tracking.store import settle_runs

TAIL_BYTES = 64 * 1024
GRACE_S = 30  # for Sacred to record an interrupted run before it is killed
POLL_S = 0.5



def attempt_comment(label):
    """The Sacred `--comment` that finds an attempt's stored runs again."""
    return f"epymarl-sn sweep: {label} [{uuid.uuid4().hex[:12]}]"


def _stop(proc):
    """SIGINT, so that Sacred records the run; then the whole process group."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc)
    proc.wait()


def _kill_group(proc):
    # a run's env workers must not outlive it (they would block on their pipes)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ended(code):
    if code < 0:
        return f"its process was killed by {signal.Signals(-code).name}"
    return f"its process exited with code {code} before Sacred recorded the end"


def _settle(checkout, env, comment, status, reason):
    """Stored runs of this attempt never stay RUNNING; -> lines for the output tail."""
    stores = [str(Path(checkout) / "results" / "sacred")]  # always written, as main.py does
    if env.get("SACRED_MONGO_URL"):
        stores.append(env["SACRED_MONGO_URL"])
    lines = []
    for store in stores:
        try:
            settle_runs(store, comment, status, reason)
        except Exception as err:  # a side service must not lose the sweep's result
            where = "MongoDB" if store == env.get("SACRED_MONGO_URL") else store
            lines.append(f"epymarl-sn sweep: could not mark the run {status} in {where} "
                         f"({type(err).__name__})")
    return lines


def execute(argv, checkout, env, log_path, timeout=None, comment=None, stop=None,
            tail_lines=15):
    """Run `python src/main.py ARGV` in the checkout, its output into log_path,
    stopping it after `timeout` seconds (None: no limit) or when `stop` (an Event)
    is set or the caller is interrupted.

    The run gets its own process group, killed as a whole when it ends, and Sacred's
    `--comment COMMENT`; whatever ended the process, none of its stored runs is left
    RUNNING. Returns (exit code, the output's last lines). On a Ray node, `checkout`
    and `log_path` are paths on that node.
    """
    log_path = Path(log_path)
    comment = comment or attempt_comment(f"{log_path.parent.name}/{log_path.stem}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    why = None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "src/main.py", *argv, f"--comment={comment}"], cwd=checkout,
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
            start_new_session=True)
        try:
            while proc.poll() is None and why is None:
                try:
                    proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    pass
                if deadline is not None and time.monotonic() > deadline:
                    # e.g. EPyMARL's parallel runner waits forever on an env that failed
                    why = f"stopped by epymarl-sn sweep after the --timeout of {timeout:g} s"
                elif stop is not None and stop.is_set():
                    why = "stopped: the sweep was interrupted"
        except KeyboardInterrupt:  # a cancelled Ray task
            why = "stopped: the sweep was interrupted"
        if why is not None:
            _stop(proc)
        _kill_group(proc)
    code = proc.returncode
    if why is None and code != 0:
        why = _ended(code)
    notes = _settle(checkout, env, comment, "INTERRUPTED" if why and why.startswith("stopped")
                    else "FAILED", why or _ended(code))
    with open(log_path, "rb") as log:
        # a long run's log is large; its end is what explains a failure
        log.seek(max(0, log_path.stat().st_size - TAIL_BYTES))
        lines = log.read().decode(errors="replace").splitlines()
    tail = [ln for ln in lines if ln.strip()][-tail_lines:] + notes
    if why is not None and why.startswith("stopped"):
        tail.append(f"epymarl-sn sweep: {why}")
        return code or 1, tail  # a run stopped early has failed, whatever it exited with
    return code, tail
