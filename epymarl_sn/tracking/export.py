"""Runs of a store as CSV (one row per run, metric and step), or one run as a
compact Sacred file-storage run (`export_compact`) that `open_store` reads back."""

import csv
import fnmatch
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from epymarl_sn.errors import StoreError
from epymarl_sn.tracking.atomic import atomic_open
from epymarl_sn.tracking.store import Filter, Run, Store
from epymarl_sn.values import task_name

# what identifies a run besides its id: the config name, the map (or env key), the seed
COLUMNS = ("name", "map", "seed")


def describe(run: Run, key: str) -> Any:
    if key == "map":
        return task_name(run.config.get("env_args", {}))
    value = run.get(key)
    return "" if value is None else value


def columns(filters: Iterable[Filter]) -> list[str]:
    return [*COLUMNS, *dict.fromkeys(f.key for f in filters if f.key != "status")]


def export_csv(
    runs: Sequence[Run], keys: Sequence[str], metrics: Sequence[str], path: Union[str, Path]
) -> None:
    """One row per (run, metric, step): columns run, status, KEYS..., metric, step, value."""
    found = {name for run in runs for name in run.metrics}
    unknown = [m for m in metrics if m not in found]
    if unknown:
        raise StoreError(
            f"no selected run has metric {', '.join(unknown)}; "
            f"they have: {', '.join(sorted(found)) or 'no metrics'}"
        )
    with atomic_open(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "status", *keys, "metric", "step", "value"])
        for run in runs:
            described = [describe(run, k) for k in keys]
            for name in metrics:
                series = run.metrics.get(name)
                for step, value in zip(*series) if series else ():
                    writer.writerow([run.id, run.status, *described, name, step, value])


# what of Sacred's run record a compact copy keeps: where and with what it ran
INFO_KEYS = ("host", "experiment", "meta")


def _significant(value: Any, digits: int) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value


def export_compact(
    store: Store,
    run: Run,
    metrics: Sequence[str],
    dest: Union[str, Path],
    extra: dict[str, Any],
    digits: int = 7,
) -> None:
    """Write `run` to the new directory `dest` as Sacred's FileStorageObserver would,
    but only: config.json (all of it); run.json with status, times, Sacred's host,
    experiment and meta, and `extra`; metrics.json with the metrics whose names match
    one of the `metrics` patterns (fnmatch), steps and values only, each value to
    `digits` significant digits. The directory appears whole or not at all."""
    dest = Path(dest)
    kept = {
        name: {
            "steps": list(series.steps),
            "values": [_significant(v, digits) for v in series.values],
        }
        for name, series in sorted(run.metrics.items())
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in metrics)
    }
    times = {
        key: value.isoformat() if value is not None else None
        for key, value in (
            ("start_time", run.start_time),
            ("stop_time", run.stop_time),
            ("heartbeat", run.heartbeat),
        )
    }
    info = {"status": run.status, **times, **store.sacred_info(run, INFO_KEYS), **extra}
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in (("config.json", run.config), ("run.json", info), ("metrics.json", kept)):
            # one line each but run.json: compact, and still a readable diff per file
            indent = 1 if name == "run.json" else None
            (tmp / name).write_text(json.dumps(data, indent=indent, sort_keys=True, default=str))
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
