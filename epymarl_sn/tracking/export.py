"""Runs of a store as CSV: one row per run, metric and step."""

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from epymarl_sn.errors import StoreError
from epymarl_sn.tracking.store import Filter, Run
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
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "status", *keys, "metric", "step", "value"])
        for run in runs:
            described = [describe(run, k) for k in keys]
            for name in metrics:
                series = run.metrics.get(name)
                for step, value in zip(*series) if series else ():
                    writer.writerow([run.id, run.status, *described, name, step, value])
