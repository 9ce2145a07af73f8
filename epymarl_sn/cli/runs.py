"""`epymarl-sn runs`: list runs of a store and export their metrics to CSV (read-only);
`epymarl-sn runs push`: upload file-storage runs to MongoDB; `epymarl-sn runs
mark-stale`: mark RUNNING runs whose process is gone INTERRUPTED."""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from epymarl_sn.board.push import push
from epymarl_sn.cli.options import add_store_option
from epymarl_sn.errors import EpymarlSnError, StoreError, UsageError
from epymarl_sn.tracking.atomic import write_failure
from epymarl_sn.tracking.export import COLUMNS, columns, describe, export_csv
from epymarl_sn.tracking.mongo import checked_url, hosts
from epymarl_sn.tracking.mongo import db_name as mongo_db_name
from epymarl_sn.tracking.store import (
    DAMAGED,
    Run,
    age_text,
    default_location,
    is_mongo_url,
    mark_stale,
    open_store,
    parse_filters,
)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def status_text(run: Run) -> str:
    """The status, with what is wrong with a DAMAGED run and how long a stale RUNNING
    one has been silent."""
    if run.status == DAMAGED:
        return f"{DAMAGED} ({run.problem})"
    age = run.stale_s()
    if age is not None:
        return f"RUNNING (stale: no heartbeat for {age_text(age)}; see runs mark-stale)"
    return run.status or ""


def list_runs(runs: Sequence[Run], keys: Sequence[str], out: TextIO) -> None:
    header = ["id", "status", "started", *keys]
    rows = [
        [
            str(run.id),
            status_text(run),
            f"{run.start_time:%Y-%m-%d %H:%M}" if run.start_time else "",
            *(str(describe(run, k)) for k in keys),
        ]
        for run in runs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=out)


def flatten(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A nested config as (dotted key, value) pairs, in key order."""
    pairs: list[tuple[str, Any]] = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, dict) and value:
            pairs += flatten(value, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def show_run(run: Run, out: TextIO) -> None:
    """One run: what it was, how it ended, its last metric values, where its files are."""
    identity = ", ".join(f"{k} {describe(run, k)}" for k in (*COLUMNS, "critic_sn"))
    status = f"status: {run.status or '?'}"
    if run.stop_reason:
        status += f", stop reason: {run.stop_reason}"
    times = f"started {run.start_time:%Y-%m-%d %H:%M:%S} UTC" if run.start_time else "started ?"
    ended = run.stop_time or run.heartbeat
    if ended and run.start_time:
        took = int((ended - run.start_time).total_seconds())
        event = "stopped" if run.stop_time else "last heartbeat"
        times += f", {event} {took // 60} min {took % 60} s later"
    lines = [f"run {run.id}: {identity}", status, times, f"files: {run.where}"]
    lines.append("final metrics (last value, at env step):")
    metrics = {name: series for name, series in sorted(run.metrics.items()) if series.values}
    width = max((len(name) for name in metrics), default=0)
    for name, (steps, values) in metrics.items():
        value = f"{values[-1]:.6g}" if isinstance(values[-1], float) else str(values[-1])
        lines.append(f"  {name.ljust(width)}  {value}  at {steps[-1]}")
    if not metrics:
        lines.append("  none logged")
    lines.append("config:")
    lines += [f"  {key} = {value!r}" for key, value in flatten(run.config)]
    print("\n".join(lines), file=out)


def push_command(args: argparse.Namespace) -> int:
    if args.export_csv or args.metrics:
        raise UsageError("runs push takes no --export-csv or --metrics")
    url = args.to or os.environ.get("SACRED_MONGO_URL")
    if not url:
        raise UsageError(
            "runs push needs a MongoDB: give --to mongodb://HOST:PORT or set SACRED_MONGO_URL"
        )
    source = "--to" if args.to else "SACRED_MONGO_URL"
    if not is_mongo_url(url):
        raise UsageError(f"{source} takes a mongodb:// URL (e.g. mongodb://127.0.0.1:27017)")
    checked_url(url, source)
    store = args.store or os.path.join("results", "sacred")
    if is_mongo_url(store):
        raise UsageError(
            "runs push reads file storage: give --store a Sacred file-storage "
            "directory (e.g. results/sacred), and the MongoDB URL with --to"
        )
    db_name = mongo_db_name()
    counts = push(store, url, db_name, parse_filters(args.filters[1:]), source)
    print(
        f"{store} -> MongoDB {hosts(url)}, database {db_name}: "
        f"{plural(counts.added, 'run')} added, {counts.completed} completed, "
        f"{counts.unchanged} already there"
        + (f", {counts.running} still RUNNING left alone" if counts.running else "")
        + (f", {counts.damaged} damaged left alone" if counts.damaged else "")
    )
    return 0


def show_command(args: argparse.Namespace) -> int:
    if len(args.filters) != 2 or args.export_csv or args.metrics or args.to:
        raise UsageError("runs show takes one run id: epymarl-sn runs show ID [--store URL_OR_DIR]")
    store = open_store(args.store or default_location())
    show_run(store.run(args.filters[1]), sys.stdout)
    return 0


def mark_stale_command(args: argparse.Namespace) -> int:
    if args.export_csv or args.metrics or args.to:
        raise UsageError("runs mark-stale takes no --export-csv, --metrics or --to")
    location = args.store or default_location()
    marked = mark_stale(location, parse_filters(args.filters[1:]))
    for run, reason in marked:
        print(f"{run.id}: INTERRUPTED ({reason})")
    print(f"{plural(len(marked), 'stale run')} marked INTERRUPTED in {location}", file=sys.stderr)
    return 0


def run_command(args: argparse.Namespace) -> int:
    if args.filters[:1] == ["push"]:
        return push_command(args)
    if args.filters[:1] == ["show"]:
        return show_command(args)
    if args.filters[:1] == ["mark-stale"]:
        return mark_stale_command(args)
    if args.to:
        raise UsageError("--to goes with `runs push` (epymarl-sn runs push --to URL)")
    if bool(args.export_csv) != bool(args.metrics):
        raise UsageError(
            "--export-csv FILE and --metrics M,... go together "
            "(e.g. --export-csv out.csv --metrics return_mean,test_return_mean)"
        )
    filters = parse_filters(args.filters)
    store = open_store(args.store or default_location())
    try:
        # a listing names damaged runs; an export leaves them out, with a warning
        runs = store.runs(filters, damaged=not args.export_csv)
        keys = columns(filters)
        if args.export_csv:
            if not runs:
                raise StoreError(
                    f"no run in {store} matches {' '.join(args.filters)}; nothing exported"
                )
            metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
            export_csv(runs, keys, metrics, args.export_csv)
            print(f"{plural(len(runs), 'run')}, metrics {', '.join(metrics)} -> {args.export_csv}")
        else:
            list_runs(runs, keys, sys.stdout)
            print(f"{plural(len(runs), 'run')} in {store}", file=sys.stderr)
    except OSError as err:
        # written whole or not at all: no file cut mid-row is left
        raise EpymarlSnError(write_failure(args.export_csv, err)) from None
    return 0


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser(
        "runs",
        help="list runs, show one, export their metrics to CSV, push them to MongoDB",
        usage="epymarl-sn runs [--store URL_OR_DIR] [KEY=VALUE ...] "
        "[--export-csv FILE --metrics M,...]\n"
        "       epymarl-sn runs show ID [--store URL_OR_DIR]\n"
        "       epymarl-sn runs push [--store DIR] [--to URL] [KEY=VALUE ...]\n"
        "       epymarl-sn runs mark-stale [--store URL_OR_DIR] [KEY=VALUE ...]",
        description="List the runs of a Sacred store, selected by config values, and "
        "export chosen metrics of those runs to CSV; this never writes to the store. "
        "`runs show ID` prints one run: its config, status and stop reason, the last "
        "value of each metric and where its files are. "
        "`runs push` uploads file-storage runs (made where no MongoDB was reachable) to "
        "MongoDB: runs it already has are completed, never duplicated, so pushing twice "
        "adds nothing. A run whose files cannot be read is listed as DAMAGED; a RUNNING "
        "run whose heartbeat stopped over a minute ago is listed as stale, and `runs "
        "mark-stale` marks such runs INTERRUPTED (their process is gone), after which "
        "push takes them.",
    )
    p.add_argument(
        "filters",
        nargs="*",
        metavar="[push|mark-stale] KEY=VALUE | show ID",
        help="keep runs whose config has this value at this dotted key "
        "(critic_sn=last, env_args.map_name=corridor, seed=1) or this status "
        "(status=COMPLETED); all must hold",
    )
    add_store_option(p)
    p.add_argument(
        "--to",
        metavar="URL",
        help="with push: the MongoDB to push to (default $SACRED_MONGO_URL; "
        "database $SACRED_MONGO_DB, default epymarl); push reads --store, "
        "default ./results/sacred",
    )
    p.add_argument(
        "--export-csv", metavar="FILE", help="write one row per run, metric and step to FILE"
    )
    p.add_argument(
        "--metrics",
        metavar="M,...",
        help="comma-separated metric names to export (with --export-csv)",
    )
    p.set_defaults(func=run_command)
