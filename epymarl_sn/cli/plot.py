"""`epymarl-sn plot`: stored runs -> PNG and PDF figures of a metric against env
steps (mean or IQM over seeds with 95% stratified-bootstrap bands) and a
final-performance table, for any metric or as the paper's Figs. 2-5."""

import argparse
import sys
from typing import TYPE_CHECKING

from epymarl_sn.cli.options import add_store_option
from epymarl_sn.errors import EpymarlSnError, PlotError
from epymarl_sn.plot.make import (
    DEFAULT_AGGREGATE,
    PRESETS,
    file_stem,
    make_files,
    resolve,
    select,
)
from epymarl_sn.tracking.store import default_location

if TYPE_CHECKING:
    # only for hints: plotting imports them, the other commands need not
    from matplotlib.figure import Figure

    from epymarl_sn.plot.table import Row


def plot(args: argparse.Namespace) -> "tuple[Figure, list[Row]]":
    """Write the figure and table files; returns the Figure and the table rows."""
    if args.reps < 1:
        raise PlotError(f"--reps must be at least 1, got {args.reps}")
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
        )
    except OSError as err:
        raise EpymarlSnError(f"cannot write to {args.out}: {err.strerror}") from None
    if made.without:
        print(
            f"epymarl-sn plot: note: {len(made.without)} of {len(runs)} selected runs did "
            f"not log {what.metric} and are left out",
            file=sys.stderr,
        )
    print(
        f"{len(runs) - len(made.without)} runs from {store}, {made.tasks} tasks -> "
        + ", ".join(map(str, made.written)),
        file=sys.stderr,
    )
    return made.figure, made.rows


def run_command(args: argparse.Namespace) -> int:
    plot(args)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="figures of a metric against env steps (mean or IQM over seeds, "
        "95%% bootstrap CIs) and a final-performance table; presets for Figs. 2-5",
        description="Read runs from a store, group them by a config key and task, and "
        "write DIR/NAME.png, .pdf, NAME_final.md and NAME_final.csv (NAME: the preset "
        "or the metric). Grouped by name, mappo_sn and mappo_midsn runs (the same "
        "variant) make one line, 'mappo_midsn = mappo_sn'. Each task's runs are linearly "
        "interpolated onto one grid of evenly spaced env steps spanning the steps every "
        "run of that task logged (no extrapolation); final scores are read at the grid's "
        "last step.",
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
        help="the metric to plot (e.g. return_mean); "
        "with --preset fig5 also critic_grad_norm_clipped_weights",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="the paper's figure: fig2 test_return_mean (RWARE), fig3 "
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
        "--reps",
        type=int,
        default=2000,
        metavar="N",
        help="bootstrap resamples per CI (default: 2000)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution (default: 150)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    p.set_defaults(func=run_command)
