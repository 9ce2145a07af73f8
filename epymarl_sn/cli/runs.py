"""`epymarl-sn runs`: list runs of a store and export their metrics to CSV (read-only)."""
import sys

from epymarl_sn.cli.options import add_store_option
from epymarl_sn.errors import EpymarlSnError, StoreError, UsageError
from epymarl_sn.tracking.export import columns, describe, export_csv
from epymarl_sn.tracking.store import default_location, open_store, parse_filters


def plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def list_runs(runs, keys, out):
    header = ["id", "status", "started", *keys]
    rows = [[str(run.id), run.status or "",
             f"{run.start_time:%Y-%m-%d %H:%M}" if run.start_time else "",
             *(str(describe(run, k)) for k in keys)] for run in runs]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=out)


def run_command(args):
    if bool(args.export_csv) != bool(args.metrics):
        raise UsageError("--export-csv FILE and --metrics M,... go together "
                         "(e.g. --export-csv out.csv --metrics return_mean,test_return_mean)")
    filters = parse_filters(args.filters)
    store = open_store(args.store or default_location())
    try:
        runs = store.runs(filters)
        keys = columns(filters)
        if args.export_csv:
            if not runs:
                raise StoreError(f"no run in {store} matches {' '.join(args.filters)}; "
                                    "nothing exported")
            metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
            export_csv(runs, keys, metrics, args.export_csv)
            print(f"{plural(len(runs), 'run')}, metrics {', '.join(metrics)} -> {args.export_csv}")
        else:
            list_runs(runs, keys, sys.stdout)
            print(f"{plural(len(runs), 'run')} in {store}", file=sys.stderr)
    except OSError as err:
        raise EpymarlSnError(f"cannot write {args.export_csv}: {err.strerror}") from None
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "runs", help="list runs and export their metrics to CSV (read-only)",
        description="List the runs of a Sacred store, selected by config values, and "
        "export chosen metrics of those runs to CSV. Never writes to the store.")
    p.add_argument("filters", nargs="*", metavar="KEY=VALUE",
                   help="keep runs whose config has this value at this dotted key "
                   "(critic_sn=last, env_args.map_name=corridor, seed=1) or this status "
                   "(status=COMPLETED); all must hold")
    add_store_option(p)
    p.add_argument("--export-csv", metavar="FILE",
                   help="write one row per run, metric and step to FILE")
    p.add_argument("--metrics", metavar="M,...",
                   help="comma-separated metric names to export (with --export-csv)")
    p.set_defaults(func=run_command)
