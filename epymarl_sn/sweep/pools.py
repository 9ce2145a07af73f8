"""Where a sweep's runs execute: N local processes, or a Ray cluster.

Both pools run the same function, `attempt.execute`, and hand back a
concurrent.futures Future per run, so the sweep's loop (retries, progress) is the
same for both.
"""
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from epymarl_sn.errors import PoolError
from epymarl_sn.sweep.attempt import execute


class LocalPool:
    """`workers` runs at a time on this machine, each its own `src/main.py` process
    (the threads only wait on them)."""

    def __init__(self, workers):
        self.slots = workers
        self.where = f"{workers} local worker{'s' if workers > 1 else ''}"
        self._executor = ThreadPoolExecutor(workers)
        self._stop = threading.Event()

    def submit(self, *args):
        return self._executor.submit(execute, *args, stop=self._stop)

    def interrupt(self):
        """Stop every running run (they are in sessions of their own, so a Ctrl-C
        in the terminal does not reach them)."""
        self._stop.set()

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
        self._refs = []

    def submit(self, *args):
        ref = self._execute.remote(*args)
        self._refs.append(ref)
        return ref.future()

    def interrupt(self):
        """Cancel the tasks: each stops its run, which Sacred records."""
        for ref in self._refs:
            self._ray.cancel(ref)

    def close(self):
        self._ray.shutdown()
