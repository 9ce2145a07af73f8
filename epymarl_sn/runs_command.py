"""`epymarl-sn runs`: list runs of a store and export their metrics to CSV (read-only)."""
import csv
import os
import sys

from .run_store import RunStoreError, open_store, parse_filters

# what identifies a run besides its id: the config name, the map (or env key), the seed
COLUMNS = ("name", "map", "seed")


def default_store():
    return os.environ.get("SACRED_MONGO_URL") or os.path.join("results", "sacred")


def describe(run, key):
    if key == "map":
        env_args = run.config.get("env_args", {})
        return env_args.get("map_name", env_args.get("key", ""))
    value = run.get(key)
    return "" if value is None else value


def plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def columns(filters):
    return [*COLUMNS, *dict.fromkeys(f.key for f in filters if f.key != "status")]


def list_runs(runs, keys, out):
    header = ["id", "status", "started", *keys]
    rows = [[str(run.id), run.status or "",
             f"{run.start_time:%Y-%m-%d %H:%M}" if run.start_time else "",
             *(str(describe(run, k)) for k in keys)] for run in runs]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=out)


def export_csv(runs, keys, metrics, path):
    """One row per (run, metric, step): columns run, status, KEYS..., metric, step, value."""
    found = {name for run in runs for name in run.metrics}
    unknown = [m for m in metrics if m not in found]
    if unknown:
        raise RunStoreError(f"no selected run has metric {', '.join(unknown)}; "
                            f"they have: {', '.join(sorted(found)) or 'no metrics'}")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "status", *keys, "metric", "step", "value"])
        for run in runs:
            described = [describe(run, k) for k in keys]
            for name in metrics:
                series = run.metrics.get(name)
                for step, value in zip(*series) if series else ():
                    writer.writerow([run.id, run.status, *described, name, step, value])


def run_command(args):
    if bool(args.export_csv) != bool(args.metrics):
        print("epymarl-sn runs: error: --export-csv FILE and --metrics M,... go together "
              "(e.g. --export-csv out.csv --metrics return_mean,test_return_mean)",
              file=sys.stderr)
        return 2
    try:
        filters = parse_filters(args.filters)
        store = open_store(args.store or default_store())
        runs = store.runs(filters)
        keys = columns(filters)
        if args.export_csv:
            if not runs:
                raise RunStoreError(f"no run in {store} matches {' '.join(args.filters)}; "
                                    "nothing exported")
            metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
            export_csv(runs, keys, metrics, args.export_csv)
            print(f"{plural(len(runs), 'run')}, metrics {', '.join(metrics)} -> {args.export_csv}")
        else:
            list_runs(runs, keys, sys.stdout)
            print(f"{plural(len(runs), 'run')} in {store}", file=sys.stderr)
    except (RunStoreError, OSError) as err:
        print(f"epymarl-sn runs: error: {err}", file=sys.stderr)
        return 1
    return 0


def add_store_option(parser):
    """--store, shared by the commands that read runs."""
    parser.add_argument("--store", metavar="URL_OR_DIR",
                        help="a mongodb:// URL (database $SACRED_MONGO_DB, default epymarl) "
                        "or a Sacred file-storage directory (default: $SACRED_MONGO_URL if "
                        "set, else ./results/sacred)")


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
