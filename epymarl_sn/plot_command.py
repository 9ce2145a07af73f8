"""`epymarl-sn plot`: stored runs -> PNG and PDF figures of a metric against env
steps (IQM or mean over seeds with 95% stratified-bootstrap bands) and a
final-performance table, for any metric or as the paper's Figs. 2-5."""
import sys
from dataclasses import dataclass
from pathlib import Path

from .plot_errors import PlotError
from .run_store import RunStoreError, open_store, parse_filters
from .runs_command import add_store_option, default_store


@dataclass(frozen=True)
class Preset:
    metric: str
    ylabel: str
    title: str
    log_scale: bool = False


AGGREGATE_NAMES = {"iqm": "IQM", "mean": "Mean"}

PRESETS = {
    "fig2": Preset("test_return_mean", "test return", "Fig. 2: RWARE, test return"),
    "fig3": Preset("test_battle_won_mean", "test win rate",
                   "Fig. 3: SMAC (sparse reward), test battles won"),
    "fig4": Preset("dead_enemies_mean", "dead enemies per episode",
                   "Fig. 4: SMAC (sparse reward), dead enemies"),
    "fig5": Preset("critic_grad_norm", "critic gradient norm (before clipping)",
                   "Fig. 5: critic gradient norm", log_scale=True),
}


def request(args):
    """(metric, y label, title, log scale) from --preset and the flags."""
    if args.preset:
        preset = PRESETS[args.preset]
        if args.metric and args.metric != preset.metric:
            raise PlotError(f"--preset {args.preset} plots {preset.metric}; drop --metric "
                            f"{args.metric} or --preset")
        return preset.metric, preset.ylabel, preset.title, preset.log_scale or args.log
    if not args.metric:
        raise PlotError("give --metric M (e.g. test_return_mean) or --preset "
                        + "|".join(PRESETS))
    return args.metric, args.metric, args.metric, args.log


def select(args):
    filters = parse_filters(args.filters)
    if not any(f.key == "status" for f in filters):
        # a run still going (or crashed) would cut every curve of its task short
        filters += parse_filters(["status=COMPLETED"])
    store = open_store(args.store or default_store())
    runs = store.runs(filters)
    if not runs:
        raise PlotError(f"no run in {store} matches "
                        f"{' '.join(f'{f.key}={f.text}' for f in filters)}")
    return store, runs


def plot(args):
    """Write the figure and table files; returns the Figure and the table rows."""
    # matplotlib, scipy and rliable take seconds to import: only `plot` pays for them
    from .final_table import final_rows, markdown, write_csv
    from .plot_figure import draw
    from .plot_panels import build_panels, group_series

    if args.reps < 1:
        raise PlotError(f"--reps must be at least 1, got {args.reps}")
    metric, ylabel, title, log_scale = request(args)
    store, runs = select(args)
    grouped, without = group_series(runs, metric, args.group_by)
    if without:
        print(f"epymarl-sn plot: note: {len(without)} of {len(runs)} selected runs did not "
              f"log {metric} and are left out", file=sys.stderr)
    panels = build_panels(grouped, args.aggregate, args.reps, args.seed)
    stem = args.preset or metric
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig = draw(panels, ylabel, f"{title}\n{AGGREGATE_NAMES[args.aggregate]} over seeds, "
               "95% stratified-bootstrap CI", log_scale)
    written = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in written:
        fig.savefig(path, dpi=args.dpi)
    rows = final_rows(panels, args.reps, args.seed)
    (out / f"{stem}_final.md").write_text(markdown(rows, metric, args.group_by))
    write_csv(rows, out / f"{stem}_final.csv")
    written += [out / f"{stem}_final.md", out / f"{stem}_final.csv"]
    print(f"{len(runs) - len(without)} runs from {store}, {len(panels)} tasks -> "
          + ", ".join(map(str, written)), file=sys.stderr)
    return fig, rows


def run_command(args):
    try:
        plot(args)
    except (PlotError, RunStoreError) as err:
        print(f"epymarl-sn plot: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"epymarl-sn plot: error: cannot write to {args.out}: {err.strerror}",
              file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "plot", help="figures of a metric against env steps (IQM or mean over seeds, "
        "95%% bootstrap CIs) and a final-performance table; presets for Figs. 2-5",
        description="Read runs from a store, group them by a config key and task, and "
        "write DIR/NAME.png, .pdf, NAME_final.md and NAME_final.csv (NAME: the preset "
        "or the metric). Each task's runs are linearly interpolated onto one grid of "
        "evenly spaced env steps spanning the steps every run of that task logged (no "
        "extrapolation); final scores are read at the grid's last step.")
    p.add_argument("filters", nargs="*", metavar="KEY=VALUE",
                   help="keep runs whose config has this value at this dotted key "
                   "(env_args.map_name=corridor, t_max=40050000) or this status; "
                   "without a status filter only COMPLETED runs are used")
    add_store_option(p)
    p.add_argument("--metric", metavar="M", help="the metric to plot (e.g. return_mean)")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="the paper's figure: fig2 test_return_mean (RWARE), fig3 "
                   "test_battle_won_mean, fig4 dead_enemies_mean, fig5 critic_grad_norm "
                   "(log scale)")
    p.add_argument("--group-by", default="name", metavar="KEY",
                   help="config key whose value makes a line (default: name, the variant)")
    p.add_argument("--aggregate", choices=("iqm", "mean"), default="iqm",
                   help="across seeds (default: iqm, the 25%% trimmed mean)")
    p.add_argument("--log", action="store_true", help="log-scale y axis")
    p.add_argument("--reps", type=int, default=2000, metavar="N",
                   help="bootstrap resamples per CI (default: 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--dpi", type=int, default=150, help="PNG resolution (default: 150)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    p.set_defaults(func=run_command)
