"""`epymarl-sn plot`: stored runs -> PNG and PDF figures of a metric against env
steps (the mean over seeds with 95% t-interval bands, or the IQM with
stratified-bootstrap bands) and a final-performance table, for any metric or as the
paper's Figs. 2-5."""

import argparse
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from epymarl_sn.cli.options import add_store_option
from epymarl_sn.errors import EpymarlSnError, PlotError
from epymarl_sn.plot.claims import Thresholds
from epymarl_sn.plot.make import (
    DEFAULT_AGGREGATE,
    DEFAULT_FINAL_POINTS,
    DEFAULT_FRACTIONS,
    DEFAULT_THRESHOLD_FRACTIONS,
    PRESETS,
    Claim,
    file_stem,
    make_files,
    resolve,
    select,
)
from epymarl_sn.tracking.atomic import write_failure
from epymarl_sn.tracking.store import default_location

if TYPE_CHECKING:
    # only for hints: plotting imports them, the other commands need not
    from matplotlib.figure import Figure

    from epymarl_sn.plot.table import Row


def parse_thresholds(
    entries: Optional[Sequence[str]], fractions: Optional[Sequence[float]]
) -> Thresholds:
    """--thresholds [TASK=]V[,V...] ... and --threshold-fractions F ..."""
    by_task: dict[str, tuple[float, ...]] = {}
    everywhere: tuple[float, ...] = ()
    for entry in entries or ():
        task, _, text = entry.rpartition("=")
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            values = ()
        if not values or (task and task in by_task) or not all(map(math.isfinite, values)):
            raise PlotError(
                f"--thresholds {entry}: give each as [TASK=]V[,V...], numbers, a task at "
                "most once (e.g. --thresholds rware:rware-tiny-2ag-v2=1,2, or 1 2 for "
                "every task)"
            )
        if task:
            by_task[task] = values
        else:
            everywhere += values
    shares = tuple(DEFAULT_THRESHOLD_FRACTIONS if fractions is None else fractions)
    if not all(0 < f <= 1 for f in shares):
        raise PlotError(
            "--threshold-fractions must lie in (0, 1] (e.g. --threshold-fractions 0.25 "
            "0.5), got " + " ".join(f"{f:g}" for f in shares)
        )
    return Thresholds(by_task, everywhere, shares)


def plot(args: argparse.Namespace) -> "tuple[Figure, list[Row]]":
    """Write the figure and table files; returns the Figure and the table rows."""
    if args.reps < 1:
        raise PlotError(f"--reps must be at least 1, got {args.reps}")
    if args.smooth < 1:
        raise PlotError(f"--smooth must be at least 1 (1: no smoothing), got {args.smooth}")
    if not all(0 < f < 1 for f in args.fractions):
        raise PlotError(
            "--fractions must lie between 0 and 1 (e.g. --fractions 0.5 0.8), got "
            + " ".join(f"{f:g}" for f in args.fractions)
        )
    if args.final_points < 1:
        raise PlotError(
            f"--final-points must be at least 1 (1: the last grid point), got {args.final_points}"
        )
    for option, given in (
        ("--baseline", args.baseline),
        ("--thresholds", args.thresholds),
        ("--threshold-fractions", args.threshold_fractions),
    ):
        if given and not args.claim:
            raise PlotError(f"{option} is for --claim's comparisons: add --claim or drop it")
    thresholds = parse_thresholds(args.thresholds, args.threshold_fractions)
    what = resolve(args.preset, args.metric, args.log)
    store, runs = select(args.store or default_location(), args.filters)
    try:
        made = make_files(
            runs,
            what,
            args.group_by,
            args.aggregate,
            args.reps,
            args.seed,
            args.out,
            file_stem(args.preset, what.metric),
            args.dpi,
            args.smooth,
            args.per_seed,
            Claim(args.fractions, args.baseline, thresholds) if args.claim else None,
            args.final_points,
        )
    except OSError as err:
        raise EpymarlSnError(write_failure(err.filename or args.out, err)) from None
    for run, step in made.diverged:
        print(
            f"epymarl-sn plot: warning: run {run.id} diverged: its {what.metric} is NaN or "
            f"infinite from step {step:g} on; drawn up to there",
            file=sys.stderr,
        )
    if made.without:
        print(
            f"epymarl-sn plot: note: {len(made.without)} of {len(runs)} selected runs did "
            f"not log {what.metric} and are left out",
            file=sys.stderr,
        )
    print(
        f"{len(runs) - len(made.without)} runs from {store}, {made.tasks} "
        f"task{'' if made.tasks == 1 else 's'} -> " + ", ".join(map(str, made.written)),
        file=sys.stderr,
    )
    return made.figure, made.rows


def run_command(args: argparse.Namespace) -> int:
    plot(args)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="figures of a metric against env steps (mean over seeds with 95%% "
        "t-intervals, or IQM) and a final-performance table; presets for Figs. 2-5",
        description="Read runs from a store, group them by a config key and task, and "
        "write DIR/NAME.png, .pdf, NAME_final.md and NAME_final.csv (NAME: the preset "
        "or the metric). Grouped by name, mappo_sn and mappo_midsn runs (the same "
        "variant) make one line, 'mappo_midsn = mappo_sn'. Each task's runs are linearly "
        "interpolated onto one grid of evenly spaced env steps spanning the steps every "
        "run of that task logged (no extrapolation); a run's final value is its mean over "
        "the grid's last --final-points points. --claim adds the convergence tables: per "
        "run, the env steps to reach common thresholds, the area under its curve over "
        "the step span, its final value, and (secondary) the steps to 50%% and 80%% of "
        "the way to its own final value; per group, the difference from the baseline's "
        "mean with a 95%% Welch t-interval over runs, its degrees of freedom and the "
        "80%%-power minimum detectable effect.",
    )
    p.add_argument(
        "filters",
        nargs="*",
        metavar="KEY=VALUE",
        help="keep runs whose config has this value at this dotted key "
        "(env_args.map_name=corridor, t_max=40050000) or this status; "
        "without a status filter only COMPLETED runs are used",
    )
    add_store_option(p)
    p.add_argument(
        "--metric",
        metavar="M",
        help="the metric to plot (e.g. return_mean); with --preset fig2 also "
        "return_mean (the training return, what the authors' plots.py plots), with "
        "--preset fig5 also critic_grad_norm_clipped_weights",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="the paper's figure: fig2 test_return_mean (RWARE; or, with --metric, "
        "return_mean), fig3 "
        "test_battle_won_mean, fig4 dead_enemies_mean, fig5 critic_grad_norm "
        "(all parameters, before clipping; log scale) or, with --metric, "
        "critic_grad_norm_clipped_weights (weights only, after clipping)",
    )
    p.add_argument(
        "--group-by",
        default="name",
        metavar="KEY",
        help="config key whose value makes a line (default: name, the variant)",
    )
    p.add_argument(
        "--aggregate",
        choices=("mean", "iqm"),
        default=DEFAULT_AGGREGATE,
        help="across seeds (default: mean, as the paper; iqm: the 25%% trimmed mean)",
    )
    p.add_argument("--log", action="store_true", help="log-scale y axis")
    p.add_argument(
        "--smooth",
        type=int,
        default=1,
        metavar="N",
        help="each run's values a rolling mean over its last N logged points, before "
        "aggregating (default: 1, none; the authors' plots.py uses 10)",
    )
    p.add_argument(
        "--per-seed",
        action="store_true",
        help="also draw each run as a thin line in its group's colour",
    )
    p.add_argument(
        "--claim",
        action="store_true",
        help="also write NAME_claim.md, NAME_claim.csv and NAME_claim_runs.csv: per "
        "run the steps to each threshold, the AUC, the final value and the steps to "
        "each fraction of its own final value; each group's difference from the "
        "baseline with a 95%% Welch t-interval, its df and the 80%%-power minimum "
        "detectable effect",
    )
    p.add_argument(
        "--thresholds",
        nargs="+",
        metavar="[TASK=]V[,V...]",
        help="with --claim: the values T of 'steps to T', common to every run of a task: "
        "TASK=V,V for one task (e.g. rware:rware-tiny-2ag-v2=1,2), V for every task "
        "not named (default: --threshold-fractions)",
    )
    p.add_argument(
        "--threshold-fractions",
        type=float,
        nargs="+",
        metavar="F",
        help="with --claim: a task without --thresholds gets T = F times its best final "
        "value, the largest among all its runs (default: "
        + " ".join(map(str, DEFAULT_THRESHOLD_FRACTIONS))
        + ")",
    )
    p.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=list(DEFAULT_FRACTIONS),
        metavar="F",
        help="with --claim: the fractions of the way to its own final value a run is "
        "timed at, the secondary measure (default: " + " ".join(map(str, DEFAULT_FRACTIONS)) + ")",
    )
    p.add_argument(
        "--baseline",
        metavar="GROUP",
        help="with --claim: the group the others are compared with (default: "
        "mappo_paper when it is one, else the first)",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=2000,
        metavar="N",
        help="with --aggregate iqm: bootstrap resamples per CI (default: 2000)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="with --aggregate iqm: bootstrap seed (default: 0)"
    )
    p.add_argument(
        "--final-points",
        type=int,
        default=DEFAULT_FINAL_POINTS,
        metavar="N",
        help="a run's final value is its mean over the last N points of its task's grid "
        f"(all of them if fewer; default: {DEFAULT_FINAL_POINTS})",
    )
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution (default: 150)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    p.set_defaults(func=run_command)
