"""A sweep: expand the spec, skip the runs already COMPLETED in the store (or kept
in the spec's data_dir), wait for those another process still runs, run the rest on
a pool with retries and a progress bar, copy each finished one to the data_dir, and
summarise the retries and the failures."""

import fcntl
import os
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Union

from tqdm import tqdm

from epymarl_sn.epymarl_config import did_you_mean
from epymarl_sn.errors import ConfigError, SpecError, UsageError
from epymarl_sn.install.checkout import patch_state
from epymarl_sn.plugin import CONFIG_CHECKS
from epymarl_sn.resources import config_dir, main_config
from epymarl_sn.sweep.attempt import AttemptResult, attempt_comment, settle
from epymarl_sn.sweep.data import code_commit, data_location, held, save_finished
from epymarl_sn.sweep.pools import Attempt, LocalPool, RayPool, Report
from epymarl_sn.sweep.resume import completed, expected_config, running, store_name
from epymarl_sn.sweep.spec import RunSpec, load_spec
from epymarl_sn.tracking.store import default_location
from epymarl_sn.values import dotted_keys


class Failure(NamedTuple):
    """A run that failed."""

    code: Optional[int]  # its last exit code; None when its worker was lost
    tail: list[str]  # the output's last lines
    attempts: int
    log: Optional[str]  # None when its worker was lost: the log is on that node


class Retry(NamedTuple):
    """An attempt that failed and was retried."""

    run_index: int  # in the grid
    attempt: int  # 1 for the first
    why: str


class SweepResult(NamedTuple):
    """What the runs of a sweep came to."""

    failed: dict[int, Failure]  # by run index
    retried: list[Retry]
    where: str  # the pool, e.g. `4 local workers`


def spec_path(arg: str) -> Path:
    """A spec file, or the name of a spec shipped with the plugin (paper_rware, ...)."""
    path = Path(arg)
    if path.is_file():
        return path
    shipped = config_dir() / "sweeps" / f"{arg}.yaml"
    if path.suffix == "" and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in (config_dir() / "sweeps").glob("*.yaml")))
    raise UsageError(f"no sweep spec {arg}: give a YAML file or a shipped spec name ({names})")


def check_checkout(path: Union[str, Path]) -> Path:
    path = Path(path).expanduser().resolve()
    if not (path / "src" / "main.py").is_file() or patch_state(path) != "applied":
        raise UsageError(
            f"{path} is not a patched EPyMARL checkout: run "
            f"`epymarl-sn setup {path}` or point --epymarl at one"
        )
    return path


def mongo_env() -> dict[str, str]:
    """What the runs need to reach the same MongoDB, also on other Ray nodes."""
    return {k: os.environ[k] for k in ("SACRED_MONGO_URL", "SACRED_MONGO_DB") if k in os.environ}


PROGRESS_S = 1.0  # how often the progress bar asks the runs how far they are
SHOWN_RUNS = 4  # running runs whose env steps the bar lists
WAIT_S = 2.0  # how often the store is read while runs started elsewhere still run


def log_path(spec: Path, index: int, run: RunSpec) -> Path:
    """A run's output, relative to the checkout it runs in (on a Ray node, that
    node's); the grid index keeps apart variants of one config."""
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{run.config}_{run.task}_seed{run.seed}")
    return Path("results") / "sweep_logs" / spec.stem / f"{index:03d}_{name}.log"


def make_pool(workers: Optional[int], ray: Optional[str]) -> Union[LocalPool, RayPool]:
    """`workers` local processes (default: one per core), or Ray when `ray` is not
    None: the cluster at that address, or a local Ray when it is empty."""
    if ray is None:
        return LocalPool(workers or os.cpu_count() or 1)
    if ray and "SACRED_MONGO_URL" not in os.environ:
        print(
            "epymarl-sn sweep: warning: SACRED_MONGO_URL is not set, so runs on other "
            "Ray nodes are stored in their own file storage, which this machine cannot "
            "see to resume the sweep",
            file=sys.stderr,
        )
    return RayPool(ray or None, workers)


def lost(err: BaseException, node: Optional[str]) -> str:
    """Why an attempt came back with no result: its worker or node died."""
    if type(err).__name__ == "NodeDiedError":
        return f"its Ray node {node} was lost" if node else "its Ray node was lost"
    first = (str(err).strip().splitlines() or [""])[0]
    return f"its worker died ({type(err).__name__}: {first})"


def failure(code: int, tail: list[str]) -> str:
    """Why an attempt failed, in a few words for the summary."""
    stopped = [
        ln[len("epymarl-sn sweep: ") :] for ln in tail if ln.startswith("epymarl-sn sweep: stopped")
    ]
    return stopped[-1] if stopped else f"exit code {code}"


def show_progress(
    bar: tqdm,
    done: int,
    failed: dict[int, Failure],
    in_flight: "dict[Future[AttemptResult], tuple[int, str]]",
    progress: dict[str, Report],
    labels: dict[int, str],
) -> None:
    """`done D, failed F, running R: PRESET TASK seed=S t_env/t_max, ...` on the bar."""
    steps = []
    for index, comment in sorted(in_flight.values()):
        report = progress.get(comment, Report(None, 0, None))
        steps.append(f"{labels[index]} {report.t_env}/{report.t_max or '?'}")
    more = f" +{len(steps) - SHOWN_RUNS}" if len(steps) > SHOWN_RUNS else ""
    listed = f": {', '.join(steps[:SHOWN_RUNS])}{more}" if steps else ""
    text = f"done {done}, failed {len(failed)}, running {len(in_flight)}{listed}"
    if text != bar.postfix:  # a sweep lasts days: a line per change, not per second
        bar.set_postfix_str(text)


def run_all(
    pool: Union[LocalPool, RayPool],
    jobs: dict[int, tuple[RunSpec, Path]],
    checkout: Path,
    retries: int,
    timeout: Optional[float],
    finished_run: Callable[[int], Any] = lambda index: None,
) -> SweepResult:
    """Run every job ({index: (RunSpec, log path)}), retrying failures up to `retries`
    times; `finished_run(index)` is called after each run that exits 0."""
    pending = deque(jobs)
    # future -> (run index, Sacred comment)
    in_flight: dict[Future[AttemptResult], tuple[int, str]] = {}
    attempts: Counter[int] = Counter()
    failed: dict[int, Failure] = {}
    retried: list[Retry] = []
    done = 0
    labels = {i: run.progress_label for i, (run, _) in jobs.items()}
    bar = tqdm(total=len(jobs), unit="run", desc="sweep", file=sys.stderr, dynamic_ncols=True)
    try:
        while pending or in_flight:
            while pending and len(in_flight) < pool.slots:
                i = pending.popleft()
                run, run_log = jobs[i]
                comment = attempt_comment(f"{run_log.parent.name}/{run_log.stem}")
                attempt = Attempt(
                    run.argv(), str(checkout), mongo_env(), str(run_log), timeout, comment
                )
                future = pool.submit(attempt)
                in_flight[future] = (i, comment)
            finished, _ = wait(in_flight, timeout=PROGRESS_S, return_when=FIRST_COMPLETED)
            progress = pool.progress()
            for future in finished:
                i, comment = in_flight.pop(future)
                attempts[i] += 1
                try:
                    result = future.result()
                    why = failure(result.code, result.tail)
                    ended = Failure(result.code, result.tail, attempts[i], result.log)
                except Exception as err:  # the worker itself died (e.g. a lost Ray node)
                    report = progress.get(comment)
                    why = lost(err, report.node if report else None)
                    # its own process could not mark its stored runs: do it from here
                    notes = settle(checkout, mongo_env(), comment, "INTERRUPTED", f"stopped: {why}")
                    ended = Failure(None, [f"epymarl-sn sweep: {why}", *notes], attempts[i], None)
                if ended.code == 0:
                    done += 1
                    finished_run(i)
                elif attempts[i] <= retries:
                    retried.append(Retry(i, attempts[i], why))
                    pending.append(i)
                    continue
                else:
                    failed[i] = ended
                bar.update(1)
            show_progress(bar, done, failed, in_flight, progress, labels)
    finally:
        bar.close()
    return SweepResult(failed, retried, pool.where)


def summary(
    runs: Sequence[RunSpec],
    failed: dict[int, Failure],
    skipped: set[int],
    spec: Path,
    store: str,
    where: str,
    retried: Sequence[Retry] = (),
) -> str:
    lines = [
        f"sweep {spec.name} ({where}): {len(runs) - len(skipped) - len(failed)} "
        f"COMPLETED, {len(failed)} FAILED, {len(skipped)} skipped (already COMPLETED "
        f"in {store})"
    ]
    for retry in retried:
        run = runs[retry.run_index]
        lines.append(f"RETRIED {run.label}: attempt {retry.attempt} failed: {retry.why}")
    for i, fail in sorted(failed.items()):
        run = runs[i]
        ended = "its worker was lost" if fail.code is None else f"exit code {fail.code}"
        # a lost worker's log is on its node, if that is still there
        log = f"; log {fail.log}" if fail.log else ""
        lines.append(
            f"FAILED {run.label}: {ended} after {fail.attempts} "
            f"attempt{'s' if fail.attempts > 1 else ''}{log}"
        )
        lines.append(f"  {run.command()}")
        lines.extend(f"  | {line}" for line in fail.tail)
    return "\n".join(lines)


@dataclass
class Plan:
    spec: Path
    checkout: Path
    runs: list[RunSpec]  # in grid order
    skipped: set[int]  # indexes of runs already COMPLETED in the store or the data dir
    location: str  # the store: a MongoDB URL or a file-storage directory
    store: str  # the store (and the data dir) as the output names them
    data_dir: Optional[Path] = None  # the spec's data_dir, absolute
    code: dict[str, Any] = field(default_factory=dict)  # the plugin's commit (data.code_commit)

    @property
    def todo(self) -> list[int]:
        return [i for i in range(len(self.runs)) if i not in self.skipped]

    def done(self) -> set[int]:
        """The runs COMPLETED in the store or kept in the data dir."""
        found = completed(self.runs, self.checkout, self.location)
        return found | held(self.runs, self.checkout, self.data_dir) if self.data_dir else found

    def save(self, indexes: Iterable[int]) -> list[int]:
        """Copy these runs, once COMPLETED in the store, to the data dir."""
        if self.data_dir is None:
            return []
        return save_finished(
            self.runs, indexes, self.checkout, self.location, self.data_dir, self.spec, self.code
        )


def check_runs(spec: Path, runs: Sequence[RunSpec], checkout: Path) -> None:
    """Each run's config, as main.py will resolve it, passes the plugin's checks of
    values (CONFIG_CHECKS) and sets only keys the config has: a bad value fails here,
    in one line, rather than in every attempt of every run."""
    for run in runs:
        base = main_config(checkout, run.env_config, run.config)
        known = sorted(dotted_keys(base))
        try:
            for key, _ in run.overrides:
                if key not in known and not any(k.startswith(key + ".") for k in known):
                    raise ConfigError(
                        f"{key}: not a config key of this run{did_you_mean(key, known)}"
                    )
            config = expected_config(run, checkout)
            for check in CONFIG_CHECKS:
                check(config)
        except ConfigError as err:
            raise SpecError(f"sweep spec {spec}: run `{run.command()}`: {err}") from None


def make_plan(spec_arg: str, epymarl: Union[str, Path]) -> Plan:
    """Check the spec and the checkout, and find what the store already holds."""
    spec = spec_path(spec_arg)
    checkout = check_checkout(epymarl)
    sweep = load_spec(spec, checkout)
    check_runs(spec, sweep.runs, checkout)
    location = default_location(checkout / "results" / "sacred")
    plan = Plan(spec, checkout, sweep.runs, set(), location, store_name(location))
    if sweep.data_dir is not None:
        plan.data_dir = data_location(sweep.data_dir, spec)
        plan.store += f", or kept in {sweep.data_dir}"
        plan.code = code_commit()
    plan.skipped = plan.done()
    return plan


LOCK_FILE = Path("results") / "sweep.lock"


@contextmanager
def sweep_lock(plan: Plan) -> Iterator[None]:
    """One sweep at a time on a checkout: two would each run every run the store
    lacks, twice over. The lock is an flock on results/sweep.lock, which the kernel
    releases when its sweep ends, however it ends; the file names its sweep."""
    path = plan.checkout / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(
            f"cannot write the sweep lock {path} ({err.strerror}): a sweep needs the "
            "checkout's results/ writable"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode(errors="replace").strip() or "another sweep"
            raise UsageError(
                f"{holder} is running on {plan.checkout}: one sweep at a time on a checkout "
                "(both would run the same runs); wait for it to end or stop it"
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"sweep {plan.spec} (PID {os.getpid()}, since {started})".encode(), 0)
        yield
    finally:
        os.close(fd)


def wait_for_others(plan: Plan) -> None:
    """A run that is RUNNING in the store with a recent heartbeat (another sweep's,
    or one of a sweep killed a moment ago whose watchdog has not yet stopped it) is
    not started twice at once: wait until none of the runs to do is, then skip those
    that COMPLETED meanwhile. Then copy to the data dir the runs the store has
    COMPLETED that it lacks (a sweep killed between a run's end and its copy)."""
    said = False
    while busy := running(plan.runs, plan.checkout, plan.location) & set(plan.todo):
        if not said:
            print(
                f"epymarl-sn sweep: waiting for {len(busy)} run(s) RUNNING in "
                f"{plan.store} with a recent heartbeat (started by another or an "
                "earlier sweep) to stop",
                file=sys.stderr,
            )
            said = True
        time.sleep(WAIT_S)
    if said:
        plan.skipped = plan.done()
    plan.save(plan.skipped)


def run_plan(
    plan: Plan,
    workers: Optional[int] = None,
    ray: Optional[str] = None,
    retries: int = 1,
    timeout: Optional[float] = None,
) -> SweepResult:
    """Run what is left to run."""
    pool = make_pool(workers, ray)
    try:
        jobs = {i: (plan.runs[i], log_path(plan.spec, i, plan.runs[i])) for i in plan.todo}
        return run_all(pool, jobs, plan.checkout, retries, timeout, lambda i: plan.save([i]))
    except KeyboardInterrupt:
        pool.interrupt()  # the runs are in sessions of their own: pass the Ctrl-C on
        raise
    finally:
        pool.close()
