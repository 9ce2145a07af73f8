"""`epymarl-sn sweep SPEC.yaml`: run a grid of ordinary `src/main.py` runs on local
workers or a Ray cluster, skipping those already COMPLETED in the store, retrying
failed ones, with a progress bar and a summary of the failures."""

import argparse
import signal
import sys

from epymarl_sn.errors import UsageError
from epymarl_sn.sweep.run import Plan, make_plan, run_plan, summary, sweep_lock, wait_for_others

SWEEP_DESCRIPTION = """\
Run every (config, env config, seed) of a sweep spec as `python src/main.py ...`
in an EPyMARL checkout. Runs already COMPLETED in the store (MongoDB when
SACRED_MONGO_URL is set, else the checkout's results/sacred) are skipped, so
re-running a spec resumes it; runs RUNNING there with a recent heartbeat
(another sweep's) are waited for, never run twice at once. Each run's output
goes to <checkout>/results/sweep_logs/<spec name>/ on the machine that ran it.

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


def check_flags(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {args.retries}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.ray and args.workers:
        raise UsageError(
            "--workers sets the size of a local pool or local Ray; a Ray "
            "cluster runs as many runs as it has CPUs: drop --workers"
        )


def run_command(args: argparse.Namespace) -> int:
    check_flags(args)
    plan = make_plan(args.spec, args.epymarl)
    if args.dry_run:
        print(
            f"# {len(plan.runs)} runs in {plan.checkout}, {len(plan.skipped)} already "
            f"COMPLETED in {plan.store}"
        )
        for i, run in enumerate(plan.runs):
            print(("# COMPLETED: " if i in plan.skipped else "") + run.command())
        return 0
    if not plan.todo:
        return _run_locked(plan, args)  # nothing to run, nothing to run twice: no lock
    with sweep_lock(plan):
        plan.skipped = plan.done()  # another sweep may have ended since make_plan
        return _run_locked(plan, args)


def _run_locked(plan: Plan, args: argparse.Namespace) -> int:
    wait_for_others(plan)
    print(
        f"sweep {plan.spec.name}: {len(plan.runs)} runs, {len(plan.skipped)} already "
        f"COMPLETED in {plan.store}, {len(plan.todo)} to run",
        file=sys.stderr,
    )
    if not plan.todo:
        print(summary(plan.runs, {}, plan.skipped, plan.spec, plan.store, "nothing to run"))
        return 0
    # Ctrl-C, also when a script started the sweep in the background (which ignores
    # SIGINT there): the Slurm recipe's time-limit trap stops it so, and the sweep
    # starts no more runs and waits for its runs. (Not SIGTERM: a Ray driver's own
    # handler takes that one and ends the process at once.)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = run_plan(plan, args.workers, args.ray, args.retries, args.timeout)
    except KeyboardInterrupt:
        print(
            "epymarl-sn sweep: interrupted; run the same command again to resume", file=sys.stderr
        )
        return 130
    print(
        summary(
            plan.runs,
            result.failed,
            plan.skipped,
            plan.spec,
            plan.store,
            result.where,
            result.retried,
        )
    )
    return 1 if result.failed else 0


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of src/main.py runs from a YAML spec on local workers or Ray; "
        "resumable, with retries and a failure summary",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SWEEP_DESCRIPTION,
    )
    p.add_argument(
        "spec",
        help="the sweep spec (YAML), or the name of a shipped one: "
        "paper_rware, paper_smaclite, paper_sc2",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="runs at a time on this machine (default: the number of cores); "
        "with --ray and no address, the CPUs of the local Ray instance",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run each run as a Ray task: on the cluster at ADDRESS "
        "(e.g. auto, HEAD_IP:6379, ray://HEAD_IP:10001), or on a local "
        "Ray instance when no address is given; every node needs this "
        "plugin and the checkout at the --epymarl path (or at the path "
        "in EPYMARL_SN_CHECKOUT when its `ray start` ran); a cluster of "
        "several nodes needs RAY_AUTH_MODE=token and one RAY_AUTH_TOKEN "
        "on every node and here",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expanded commands (those already COMPLETED commented out) and run nothing",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        metavar="N",
        help="run a failed run up to N more times (default: 1)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop an attempt that runs longer and count it as failed "
        "(default: no limit); guards against runs that hang",
    )
    p.add_argument(
        "--epymarl",
        default="epymarl",
        metavar="DIR",
        help="the patched EPyMARL checkout from `epymarl-sn setup` (default: ./epymarl)",
    )
    p.set_defaults(func=run_command)
