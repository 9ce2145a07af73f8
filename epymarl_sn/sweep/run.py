"""A sweep: expand the spec, skip the runs already COMPLETED in the store, run the
rest on a pool with retries and a progress bar, and summarise the failures."""
import os
import re
import sys
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from epymarl_sn.errors import UsageError
from epymarl_sn.install.checkout import patch_state
from epymarl_sn.resources import config_dir
from epymarl_sn.sweep.pools import LocalPool, RayPool
from epymarl_sn.sweep.resume import completed, store_name
from epymarl_sn.tracking.store import default_location
from epymarl_sn.sweep.spec import load_spec


def spec_path(arg):
    """A spec file, or the name of a spec shipped with the plugin (paper_rware, ...)."""
    path = Path(arg)
    if path.is_file():
        return path
    shipped = config_dir() / "sweeps" / f"{arg}.yaml"
    if path.suffix == "" and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in (config_dir() / "sweeps").glob("*.yaml")))
    raise UsageError(f"no sweep spec {arg}: give a YAML file or a shipped spec name ({names})")


def check_checkout(path):
    path = Path(path).expanduser().resolve()
    if not (path / "src" / "main.py").is_file() or patch_state(path) != "applied":
        raise UsageError(f"{path} is not a patched EPyMARL checkout: run "
                         f"`epymarl-sn setup {path}` or point --epymarl at one")
    return path


def mongo_env():
    """What the runs need to reach the same MongoDB, also on other Ray nodes."""
    return {k: os.environ[k] for k in ("SACRED_MONGO_URL", "SACRED_MONGO_DB") if k in os.environ}


def log_path(checkout, spec, index, run):
    """A run's output; the grid index keeps apart variants of one config."""
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{run.config}_{run.task}_seed{run.seed}")
    return checkout / "results" / "sweep_logs" / spec.stem / f"{index:03d}_{name}.log"


def make_pool(workers, ray):
    """`workers` local processes (default: one per core), or Ray when `ray` is not
    None: the cluster at that address, or a local Ray when it is empty."""
    if ray is None:
        return LocalPool(workers or os.cpu_count() or 1)
    if ray and "SACRED_MONGO_URL" not in os.environ:
        print("epymarl-sn sweep: warning: SACRED_MONGO_URL is not set, so runs on other "
              "Ray nodes are stored in their own file storage, which this machine cannot "
              "see to resume the sweep", file=sys.stderr)
    return RayPool(ray or None, workers)


def run_all(pool, jobs, checkout, retries, timeout):
    """Run every job ({index: (RunSpec, log path)}), retrying failures up to `retries`
    times. -> {index: (exit code, output tail, attempts)} of the runs that failed."""
    pending = deque(jobs)
    in_flight = {}
    attempts = Counter()
    failed = {}
    done = 0
    bar = tqdm(total=len(jobs), unit="run", desc="sweep", file=sys.stderr, dynamic_ncols=True)

    def show(refresh=True):
        bar.set_postfix_str(f"done {done}, failed {len(failed)}, running {len(in_flight)}",
                            refresh=refresh)

    try:
        while pending or in_flight:
            while pending and len(in_flight) < pool.slots:
                i = pending.popleft()
                run, log = jobs[i]
                in_flight[pool.submit(run.argv(), str(checkout), mongo_env(), str(log),
                                      timeout)] = i
            show()
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                i = in_flight.pop(future)
                attempts[i] += 1
                try:
                    code, tail = future.result()
                except Exception as err:  # the worker itself died (e.g. a lost Ray node)
                    code, tail = None, [f"{type(err).__name__}: {err}"]
                if code == 0:
                    done += 1
                elif attempts[i] <= retries:
                    pending.append(i)
                    continue
                else:
                    failed[i] = (code, tail, attempts[i])
                show(refresh=False)
                bar.update(1)
        show()
    finally:
        bar.close()
    return failed


def summary(runs, failed, skipped, checkout, spec, store, where):
    lines = [f"sweep {spec.name} ({where}): {len(runs) - len(skipped) - len(failed)} "
             f"COMPLETED, {len(failed)} FAILED, {len(skipped)} skipped (already COMPLETED "
             f"in {store})"]
    for i, (code, tail, attempts) in sorted(failed.items()):
        run = runs[i]
        ended = "its worker was lost" if code is None else f"exit code {code}"
        lines.append(f"FAILED {run.label}: {ended} after {attempts} "
                     f"attempt{'s' if attempts > 1 else ''}; log "
                     f"{log_path(checkout, spec, i, run)}")
        lines.append(f"  {run.command()}")
        lines.extend(f"  | {line}" for line in tail)
    return "\n".join(lines)


@dataclass
class Plan:
    spec: Path
    checkout: Path
    runs: list  # RunSpec, in grid order
    skipped: set  # indexes of runs already COMPLETED in the store
    store: str  # the store as the output names it

    @property
    def todo(self):
        return [i for i in range(len(self.runs)) if i not in self.skipped]


def make_plan(spec_arg, epymarl):
    """Check the spec and the checkout, and find what the store already holds."""
    spec = spec_path(spec_arg)
    checkout = check_checkout(epymarl)
    runs = load_spec(spec, checkout)
    location = default_location(checkout / "results" / "sacred")
    return Plan(spec, checkout, runs, completed(runs, checkout, location), store_name(location))


def run_plan(plan, workers=None, ray=None, retries=1, timeout=None):
    """Run what is left to run. -> (failed runs as run_all gives them, the pool's name)."""
    pool = make_pool(workers, ray)
    try:
        jobs = {i: (plan.runs[i], log_path(plan.checkout, plan.spec, i, plan.runs[i]))
                for i in plan.todo}
        return run_all(pool, jobs, plan.checkout, retries, timeout), pool.where
    except KeyboardInterrupt:
        pool.interrupt()  # the runs are in sessions of their own: pass the Ctrl-C on
        raise
    finally:
        pool.close()
