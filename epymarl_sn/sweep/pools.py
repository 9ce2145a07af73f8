"""Where a sweep's runs execute: N local processes, or a Ray cluster.

Both pools run the same function, `attempt.execute`, and hand back a
concurrent.futures Future per attempt, so the sweep's loop (retries, progress) is
the same for both. Each attempt reports its env steps to the pool's `Progress`,
keyed by its Sacred comment.
"""

import os
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, NamedTuple, Optional

from epymarl_sn.errors import PoolError
from epymarl_sn.plugin import NODE_ENV
from epymarl_sn.sweep.attempt import GRACE_S, AttemptResult, execute

# set in the environment of `ray start` on a node whose checkout is elsewhere than
# the driver's --epymarl path
CHECKOUT_ENV = "EPYMARL_SN_CHECKOUT"


class Report(NamedTuple):
    """What an attempt reported last."""

    node: Optional[str]  # its Ray node's id; None on a local worker
    t_env: int
    t_max: Optional[int]  # None until the run has logged it


class Attempt(NamedTuple):
    """One attempt at a run, as a pool is handed it: `execute`'s first arguments, in
    its order."""

    argv: list[str]
    checkout: str
    env: dict[str, str]
    log: str
    timeout: Optional[float]
    comment: str


class Progress:
    """What each running attempt reported last: comment -> Report.
    A plain object for local workers; a Ray actor on a cluster."""

    def __init__(self) -> None:
        self._state: dict[str, Report] = {}

    def report(self, comment: str, node: Optional[str], t_env: int, t_max: Optional[int]) -> None:
        self._state[comment] = Report(node, t_env, t_max)

    def snapshot(self) -> dict[str, Report]:
        return dict(self._state)


class LocalPool:
    """`workers` runs at a time on this machine, each its own `src/main.py` process
    (the threads only wait on them)."""

    def __init__(self, workers: int) -> None:
        self.slots = workers
        self.where = f"{workers} local worker{'s' if workers > 1 else ''}"
        self._executor = ThreadPoolExecutor(workers)
        self._stop = threading.Event()
        self._progress = Progress()

    def submit(self, attempt: Attempt) -> "Future[AttemptResult]":
        report = partial(self._progress.report, attempt.comment, None)
        return self._executor.submit(execute, *attempt, stop=self._stop, report=report)

    def progress(self) -> dict[str, Report]:
        return self._progress.snapshot()

    def interrupt(self) -> None:
        """Stop every running run (they are in sessions of their own, so a Ctrl-C
        in the terminal does not reach them)."""
        self._stop.set()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def check_reachable(address: str, timeout_s: float = 5) -> None:
    """Fail fast on a host:port nobody listens on: ray.init would retry for minutes."""
    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # e.g. `auto`: Ray finds the local cluster itself and fails fast
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise PoolError(
            f"nothing answers at the Ray address {address} "
            f"({err.strerror or type(err).__name__}): start the cluster "
            "(`ray start --head`) or fix the address"
        ) from None


def run_on_node(attempt: Attempt, progress: Any) -> AttemptResult:
    """`execute` as a Ray task: in the node's own checkout when its `ray start` had
    EPYMARL_SN_CHECKOUT, with the node's id in the run's environment (stored by
    Sacred) and in the reports to the driver's progress actor."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    checkout = os.environ.get(CHECKOUT_ENV) or attempt.checkout

    def report(t_env: int, t_max: Optional[int]) -> None:
        progress.report.remote(attempt.comment, node, t_env, t_max)

    report(0, None)  # the driver learns where the attempt runs
    here = attempt._replace(checkout=checkout, env={**attempt.env, NODE_ENV: node})
    return execute(*here, report=report)


class RayPool:
    """One Ray task per attempt, one CPU each; as many in flight as the cluster has
    CPUs. Ray does not retry a task on its own (the sweep retries, and says why).

    With no address, a local Ray instance is started with `num_cpus` CPUs (all
    cores when None) and stopped by close().
    """

    def __init__(self, address: Optional[str] = None, num_cpus: Optional[int] = None) -> None:
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
            raise PoolError(
                f"cannot connect to the Ray cluster at {address!r}: {first} "
                "(is `ray start --head` running there?)"
            ) from None
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.where = (
            f"Ray cluster {address}" if address else "local Ray"
        ) + f" ({self.slots} CPUs)"
        # Ray's remote function and actor handle: their `.remote` is untyped
        self._execute: Any = ray.remote(num_cpus=1, max_retries=0)(run_on_node)
        # on the head node, which lives as long as the cluster; it takes no CPU
        self._progress: Any = ray.remote(num_cpus=0, resources={"node:__internal_head__": 0.001})(
            Progress
        ).remote()
        self._refs: list[Any] = []  # Ray ObjectRefs

    def submit(self, attempt: Attempt) -> "Future[AttemptResult]":
        ref = self._execute.remote(attempt, self._progress)
        self._refs.append(ref)
        return ref.future()

    def progress(self) -> dict[str, Report]:
        return self._ray.get(self._progress.snapshot.remote())

    def interrupt(self) -> None:
        """Cancel the tasks: each stops its run, which Sacred records, and waits for
        it (a run with checkpoints writes one first); wait for them before the driver
        goes, since Ray ends a gone driver's tasks (and a task's end, its run)."""
        for ref in self._refs:
            self._ray.cancel(ref)
        self._ray.wait(self._refs, num_returns=len(self._refs), timeout=GRACE_S + 30)

    def close(self) -> None:
        self._ray.shutdown()
