"""Where a sweep's runs execute: N local processes, or a Ray cluster.

Both pools run the same function, `execute`, and hand back a concurrent.futures
Future per run, so the sweep's loop (retries, progress) is the same for both.
"""
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TAIL_BYTES = 64 * 1024
GRACE_S = 30  # for Sacred to record an interrupted run before it is killed


class PoolError(RuntimeError):
    """A pool cannot start; the message says why and how to fix it."""


def execute(argv, checkout, env, log_path, timeout=None, tail_lines=15):
    """Run `python src/main.py ARGV` in the checkout, its output into log_path,
    stopping it after `timeout` seconds (None: no limit).

    Returns (exit code, the output's last lines). On a Ray node, `checkout` and
    `log_path` are paths on that node.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    timed_out = []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "src/main.py", *argv], cwd=checkout,
                                stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # e.g. EPyMARL's parallel runner waits forever on an env that failed to start
            timed_out = [f"epymarl-sn sweep: stopped after the --timeout of {timeout:g} s"]
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with open(log_path, "rb") as log:
        # a long run's log is large; its end is what explains a failure
        log.seek(max(0, log_path.stat().st_size - TAIL_BYTES))
        lines = log.read().decode(errors="replace").splitlines()
    tail = [ln for ln in lines if ln.strip()][-tail_lines:] + timed_out
    # a run stopped early has failed, whatever it exited with
    return (proc.returncode or 1) if timed_out else proc.returncode, tail


class LocalPool:
    """`workers` runs at a time on this machine, each its own `src/main.py` process
    (the threads only wait on them)."""

    def __init__(self, workers):
        self.slots = workers
        self.where = f"{workers} local worker{'s' if workers > 1 else ''}"
        self._executor = ThreadPoolExecutor(workers)

    def submit(self, *args):
        return self._executor.submit(execute, *args)

    def close(self):
        self._executor.shutdown(wait=True, cancel_futures=True)


def check_reachable(address, timeout_s=5):
    """Fail fast on a host:port nobody listens on: ray.init would retry for minutes."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # e.g. `auto`: Ray finds the local cluster itself and fails fast
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise PoolError(f"nothing answers at the Ray address {address} "
                        f"({err.strerror or type(err).__name__}): start the cluster "
                        "(`ray start --head`) or fix the address") from None


class RayPool:
    """One Ray task per run, one CPU each; as many in flight as the cluster has CPUs.

    With no address, a local Ray instance is started with `num_cpus` CPUs (all
    cores when None) and stopped by close().
    """

    def __init__(self, address=None, num_cpus=None):
        try:
            import ray
        except ImportError:
            raise PoolError("--ray needs Ray: pip install ray") from None
        self._ray = ray
        if address:
            check_reachable(address)
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise PoolError(f"cannot connect to the Ray cluster at {address!r}: {first} "
                            "(is `ray start --head` running there?)") from None
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.where = (f"Ray cluster {address}" if address else "local Ray") + \
            f" ({self.slots} CPUs)"
        self._execute = ray.remote(num_cpus=1)(execute)

    def submit(self, *args):
        return self._execute.remote(*args).future()

    def close(self):
        self._ray.shutdown()
