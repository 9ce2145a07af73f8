"""`epymarl-sn sweep SPEC.yaml`: run a grid of ordinary `src/main.py` runs on local
workers or a Ray cluster, skipping those already COMPLETED in the store, retrying
failed ones, with a progress bar and a summary of the failures."""
import argparse
import os
import re
import sys
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from tqdm import tqdm

from .epymarl_checkout import patch_state
from .resources import config_dir
from .run_store import RunStoreError
from .sweep_pools import LocalPool, PoolError, RayPool
from .sweep_resume import completed, store_location, store_name
from .sweep_spec import SpecError, load_spec


SWEEP_DESCRIPTION = """\
Run every (config, env config, seed) of a sweep spec as `python src/main.py ...`
in an EPyMARL checkout. Runs already COMPLETED in the store (MongoDB when
SACRED_MONGO_URL is set, else the checkout's results/sacred) are skipped, so
re-running a spec resumes it. Each run's output goes to
<checkout>/results/sweep_logs/<spec name>/.

A spec (keys other than these are an error):

  configs: [mappo_paper, {config: mappo_midsn, with: {critic_sn_k: 2.0}}]
  env_configs:
    - env_config: gymma
      with: {env_args.key: "rware:rware-tiny-2ag-v2", env_args.time_limit: 500}
  seeds: [1, 2, 3, 4]
  t_max: 40050000             # optional
  with: {test_nepisode: 100}  # optional, for every run

`with` overrides are Sacred's dotted config keys; later ones win: t_max, the
spec's, the env config's, the config's."""


class SweepError(ValueError):
    """Bad command-line input; the message says what and how to fix it."""


def spec_path(arg):
    """A spec file, or the name of a spec shipped with the plugin (paper_rware, ...)."""
    path = Path(arg)
    if path.is_file():
        return path
    shipped = config_dir() / "sweeps" / f"{arg}.yaml"
    if path.suffix == "" and shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in (config_dir() / "sweeps").glob("*.yaml")))
    raise SweepError(f"no sweep spec {arg}: give a YAML file or a shipped spec name ({names})")


def check_checkout(path):
    path = Path(path).expanduser().resolve()
    if not (path / "src" / "main.py").is_file() or patch_state(path) != "applied":
        raise SweepError(f"{path} is not a patched EPyMARL checkout: run "
                         f"`epymarl-sn setup {path}` or point --epymarl at one")
    return path


def mongo_env():
    """What the runs need to reach the same MongoDB, also on other Ray nodes."""
    return {k: os.environ[k] for k in ("SACRED_MONGO_URL", "SACRED_MONGO_DB") if k in os.environ}


def log_path(checkout, spec, index, run):
    """A run's output; the grid index keeps apart variants of one config."""
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{run.config}_{run.task}_seed{run.seed}")
    return checkout / "results" / "sweep_logs" / spec.stem / f"{index:03d}_{name}.log"


def check_flags(args):
    if args.workers is not None and args.workers < 1:
        raise SweepError(f"--workers must be at least 1, got {args.workers}")
    if args.retries < 0:
        raise SweepError(f"--retries must be 0 or more, got {args.retries}")
    if args.timeout is not None and args.timeout <= 0:
        raise SweepError(f"--timeout must be a positive number of seconds, "
                         f"got {args.timeout:g}")
    if args.ray and args.workers:
        raise SweepError("--workers sets the size of a local pool or local Ray; a Ray "
                         "cluster runs as many runs as it has CPUs: drop --workers")


def make_pool(args):
    if args.ray is None:
        return LocalPool(args.workers or os.cpu_count() or 1)
    if args.ray and "SACRED_MONGO_URL" not in os.environ:
        print("epymarl-sn sweep: warning: SACRED_MONGO_URL is not set, so runs on other "
              "Ray nodes are stored in their own file storage, which this machine cannot "
              "see to resume the sweep", file=sys.stderr)
    return RayPool(args.ray or None, args.workers)


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


def sweep(args):
    check_flags(args)
    spec = spec_path(args.spec)
    checkout = check_checkout(args.epymarl)
    runs = load_spec(spec, checkout)
    location = store_location(checkout)
    skipped = completed(runs, checkout, location)
    store = store_name(location)
    if args.dry_run:
        print(f"# {len(runs)} runs in {checkout}, {len(skipped)} already COMPLETED in "
              f"{store}")
        for i, run in enumerate(runs):
            print(("# COMPLETED: " if i in skipped else "") + run.command())
        return 0
    todo = [i for i in range(len(runs)) if i not in skipped]
    print(f"sweep {spec.name}: {len(runs)} runs, {len(skipped)} already COMPLETED in "
          f"{store}, {len(todo)} to run", file=sys.stderr)
    if not todo:
        print(summary(runs, {}, skipped, checkout, spec, store, "nothing to run"))
        return 0
    pool = make_pool(args)
    try:
        jobs = {i: (runs[i], log_path(checkout, spec, i, runs[i])) for i in todo}
        failed = run_all(pool, jobs, checkout, args.retries, args.timeout)
    except KeyboardInterrupt:
        pool.interrupt()  # the runs are in sessions of their own: pass the Ctrl-C on
        raise
    finally:
        pool.close()
    print(summary(runs, failed, skipped, checkout, spec, store, pool.where))
    return 1 if failed else 0


def run_command(args):
    try:
        return sweep(args)
    except (SweepError, SpecError, RunStoreError, PoolError) as err:
        print(f"epymarl-sn sweep: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("epymarl-sn sweep: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130


def add_parser(subparsers):
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of src/main.py runs from a YAML spec on local workers or Ray; "
        "resumable, with retries and a failure summary",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SWEEP_DESCRIPTION,
    )
    p.add_argument("spec", help="the sweep spec (YAML), or the name of a shipped one: "
                   "paper_rware, paper_smaclite, paper_sc2")
    p.add_argument("--workers", type=int, metavar="N",
                   help="runs at a time on this machine (default: the number of cores); "
                   "with --ray and no address, the CPUs of the local Ray instance")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run each run as a Ray task: on the cluster at ADDRESS "
                   "(e.g. auto, ray://head:10001), or on a local Ray instance "
                   "when no address is given; every node needs the same --epymarl "
                   "checkout path and this plugin installed")
    p.add_argument("--dry-run", action="store_true",
                   help="print the expanded commands (those already COMPLETED "
                   "commented out) and run nothing")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="run a failed run up to N more times (default: 1)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop an attempt that runs longer and count it as failed "
                   "(default: no limit); guards against runs that hang")
    p.add_argument("--epymarl", default="epymarl", metavar="DIR",
                   help="the patched EPyMARL checkout from `epymarl-sn setup` "
                   "(default: ./epymarl)")
    p.set_defaults(func=run_command)
