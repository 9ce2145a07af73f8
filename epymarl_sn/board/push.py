"""Upload file-storage runs to MongoDB, for runs made where no database was reachable.

    from epymarl_sn.board.push import push
    counts = push("results/sacred", "mongodb://host:27017", "epymarl")

Each run of a Sacred FileStorageObserver tree (run.json, config.json, info.json,
cout.txt, metrics.json, artifacts and sources) becomes a MongoDB run as Sacred's
MongoObserver writes it, named by its preset (config `name`), with the models
EPyMARL saved for it (results/models/) as artifacts. A run MongoDB already has is
recognised by its host and start time (the same for every observer of a run), preset
and seed, and completed, never duplicated: missing metric points, artifacts, the final status,
output and info. Pushing twice adds nothing. Runs still RUNNING in file storage are
left alone: their process may still be writing them.

`python -m epymarl_sn.board.push RUN_DIR --within S` (started by the observer when
MongoDB is still down at the end of a run) retries one run until MongoDB takes it.
"""

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

import gridfs
import pymongo
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from epymarl_sn.errors import DamagedRunError, StoreError
from epymarl_sn.tracking import mongo
from epymarl_sn.tracking.saved_models import SavedModels
from epymarl_sn.tracking.store import (
    DAMAGED,
    FileStore,
    Filter,
    parse_time,
    read_json_object,
    series_problem,
    warn_damaged,
)
from epymarl_sn.waiting import Deadline, retry

FORMAT = "MongoObserver-0.7.0"  # Sacred's MongoObserver.VERSION, what Omniboard reads
# the fields of a run document that change until the run has ended
FINAL_FIELDS = ("status", "stop_time", "heartbeat", "result", "fail_trace", "captured_out")


@dataclass
class Counts:
    added: int = 0  # runs MongoDB did not have
    completed: int = 0  # runs MongoDB had in part
    unchanged: int = 0  # runs MongoDB had in full
    running: int = 0  # left alone: still RUNNING in file storage
    damaged: int = 0  # left alone: a file of the run cannot be read


def _mongo_time(text: Any) -> Optional[datetime]:
    """An ISO time of file storage -> naive UTC at MongoDB's millisecond precision;
    DamagedRunError if it is not a time."""
    t = parse_time(text)
    return t.replace(microsecond=t.microsecond // 1000 * 1000) if t is not None else None


def _read_json(path, default):
    return read_json_object(path) if path.exists() else default


def _metrics(data: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """A run's metrics.json, each metric checked; timestamps are optional (a compact
    record has none) but, when there, one per step."""
    for name, metric in data.items():
        problem = series_problem(name, metric)
        stamps = metric.get("timestamps") if isinstance(metric, dict) else None
        if (
            not problem
            and stamps is not None
            and (not isinstance(stamps, list) or len(stamps) != len(metric["steps"]))
        ):
            problem = f"{name} has {len(metric['steps'])} steps but not as many timestamps"
        if problem:
            raise DamagedRunError(f"metrics.json: {problem}")
    return data


class FileRun:
    """One run directory of a FileStorageObserver."""

    def __init__(self, path: Path):
        self.path = path
        self.run = read_json_object(path / "run.json")
        self.config = read_json_object(path / "config.json")
        self.info = _read_json(path / "info.json", {})
        self.metrics = _metrics(_read_json(path / "metrics.json", {}))
        # MongoDB knows a run by its host and start time: without one, no copy is safe
        self.start_time = _mongo_time(self.run.get("start_time"))
        if self.start_time is None:
            raise DamagedRunError("run.json has no start_time, by which MongoDB knows a run")
        for key in ("stop_time", "heartbeat"):
            _mongo_time(self.run.get(key))  # a time that is no time: damaged, before a write
        cout = path / "cout.txt"
        self.captured_out = cout.read_text(errors="replace") if cout.is_file() else ""

    @property
    def status(self) -> Optional[str]:
        return self.run.get("status")

    def final_fields(self) -> dict[str, Any]:
        values = {
            "status": self.status,
            "stop_time": _mongo_time(self.run.get("stop_time")),
            "heartbeat": _mongo_time(self.run.get("heartbeat")),
            "result": self.run.get("result"),
            "fail_trace": self.run.get("fail_trace"),
            "captured_out": self.captured_out,
        }
        # Sacred stores a run's result even when it is None; the others only once set
        return {k: v for k, v in values.items() if v is not None or k == "result"}

    def artifacts(self) -> list[tuple[str, Path]]:
        """(name, path) of the run's artifacts and of the models EPyMARL saved for it."""
        files = [
            (name, self.path / name)
            for name in self.run.get("artifacts", [])
            if (self.path / name).is_file()
        ]
        models = SavedModels(self.config, started=self._local_start())
        # EPyMARL's layout: results/sacred/<name>/<task>/<id> next to results/models
        if len(self.path.parents) > 3:
            models.root = self.path.parents[3] / "models"
            files += models.files(finished=True)
        return files

    def _local_start(self) -> datetime:
        # Sacred stamps UTC; EPyMARL names model directories in local time
        assert self.start_time is not None  # __init__ refused a run without one
        start = self.start_time.replace(tzinfo=timezone.utc)
        return start.astimezone().replace(tzinfo=None)

    def document(self) -> dict[str, Any]:
        """The run as Sacred's MongoObserver stores it (without _id, artifacts, sources)."""
        experiment = dict(self.run.get("experiment", {}))
        experiment["name"] = self.config.get("name", experiment.get("name"))
        return {
            "experiment": experiment,
            "format": FORMAT,
            "command": self.run.get("command"),
            "host": self.run.get("host", {}),
            "start_time": self.start_time,
            "config": self.config,
            "meta": self.run.get("meta", {}),
            "resources": self.run.get("resources", []),
            "artifacts": [],
            "info": dict(self.info),
            **self.final_fields(),
        }


class Pusher:
    def __init__(self, db: "Database[dict[str, Any]]") -> None:
        self.db = db
        self.fs = gridfs.GridFS(db)

    def push(self, run: FileRun) -> str:
        """'added', 'completed', 'unchanged' or 'running'."""
        if run.status in (None, "RUNNING", "QUEUED"):
            return "running"
        doc = self.find(run)
        if doc is None:
            self.add(run)
            return "added"
        return "completed" if self.complete(run, doc) else "unchanged"

    def find(self, run: FileRun) -> Optional[dict[str, Any]]:
        """The MongoDB copy of `run`: same host, same start time (Sacred gives every
        observer the same one; MongoDB keeps milliseconds), same preset and seed (two
        runs a sweep starts at once can share a host and a millisecond)."""
        return self.db.runs.find_one(
            {
                "host.hostname": run.run.get("host", {}).get("hostname"),
                "start_time": run.start_time,
                "config.name": run.config.get("name"),
                "config.seed": run.config.get("seed"),
            }
        )

    def add(self, run: FileRun) -> None:
        doc = run.document()
        doc["experiment"]["sources"] = self._sources(run)
        while True:  # the next free id, as Sacred's MongoObserver takes it
            last = self.db.runs.find_one({}, {"_id": 1}, sort=[("_id", pymongo.DESCENDING)])
            doc["_id"] = last["_id"] + 1 if last else 1
            try:
                self.db.runs.insert_one(doc)
                break
            except DuplicateKeyError:
                continue
        self.complete(run, doc)

    def complete(self, run: FileRun, doc: dict[str, Any]) -> bool:
        """Add what `doc` lacks of `run`; True if anything was added."""
        changes = {k: v for k, v in run.final_fields().items() if doc.get(k) != v}
        metric_ids = list(doc.get("info", {}).get("metrics", []))
        known = {m["name"] for m in metric_ids}
        pushed = False
        for name, series in run.metrics.items():
            if not self._push_metric(doc["_id"], name, series):
                continue
            pushed = True
            if name not in known:
                metric = self.db.metrics.find_one({"run_id": doc["_id"], "name": name}, {"_id": 1})
                assert metric is not None  # _push_metric just wrote it
                metric_ids.append({"name": name, "id": str(metric["_id"])})
        info = {**doc.get("info", {}), **run.info, "metrics": metric_ids}
        if info != doc.get("info"):
            changes["info"] = info
        artifacts = list(doc.get("artifacts", []))
        stored = {a["name"] for a in artifacts}
        for name, path in run.artifacts():
            if name not in stored:
                with open(path, "rb") as f:
                    file_id = self.fs.put(
                        f,
                        filename=f"artifact://runs/{doc['_id']}/{name}",
                        content_type="application/octet-stream",
                    )
                artifacts.append({"name": name, "file_id": file_id})
        if len(artifacts) != len(stored):
            changes["artifacts"] = artifacts
        if changes:
            self.db.runs.update_one({"_id": doc["_id"]}, {"$set": changes})
        return bool(changes) or pushed

    def _push_metric(self, run_id: Any, name: str, series: dict[str, list[Any]]) -> bool:
        """Append the points MongoDB lacks (its series is a prefix of the file's)."""
        stored = self.db.metrics.find_one({"run_id": run_id, "name": name}, {"steps": 1})
        have = len(stored["steps"]) if stored else 0
        if stored and stored["steps"] != series["steps"][:have]:
            return False  # not a prefix: not the same series, leave MongoDB's alone
        if have >= len(series["steps"]):
            return False
        # a compact record keeps no timestamps: its points go without
        fields = (
            ("steps", "values", "timestamps") if "timestamps" in series else ("steps", "values")
        )
        tail = {
            field: {
                "$each": [_mongo_time(v) for v in series[field][have:]]
                if field == "timestamps"
                else series[field][have:]
            }
            for field in fields
        }
        self.db.metrics.update_one({"run_id": run_id, "name": name}, {"$push": tail}, upsert=True)
        return True

    def _sources(self, run: FileRun) -> list[list[Any]]:
        """[[name, GridFS id]] of the experiment's sources, each stored once."""
        found = []
        for name, rel in run.run.get("experiment", {}).get("sources", []):
            path = run.path.parent / rel
            if not path.is_file():
                continue
            data = path.read_bytes()
            md5 = hashlib.md5(data).hexdigest()
            old = self.db["fs.files"].find_one({"filename": name, "md5": md5}, {"_id": 1})
            found.append([name, old["_id"] if old else self.fs.put(data, filename=name, md5=md5)])
        return found


def push(
    store_dir: Union[str, Path],
    url: str,
    db_name: str,
    filters: Sequence[Filter] = (),
    source: str = "SACRED_MONGO_URL",
) -> Counts:
    """Push the runs of file storage `store_dir` (those matching `filters`) to MongoDB
    at `url`, which came from `source` (for messages)."""
    runs = FileStore(store_dir).runs(filters, damaged=True)
    where = mongo.hosts(url)
    client = mongo.connect(url)
    try:
        problem = mongo.check_access(client, where, db_name, 5.0, source)
        if problem:
            raise StoreError(problem.message)
        pusher = Pusher(client[db_name])
        counts = Counts()
        for run in runs:
            path = Path(store_dir).expanduser() / run.id
            try:
                if run.status == DAMAGED:
                    raise DamagedRunError(run.problem)
                outcome = pusher.push(FileRun(path))
            except DamagedRunError as err:
                warn_damaged(path, err)
                outcome = "damaged"
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts
    except PyMongoError as err:
        raise StoreError(
            f"MongoDB at {where} stopped taking writes ({type(err).__name__}); "
            "push again when it is back: runs already pushed are skipped"
        ) from None
    finally:
        client.close()


def push_when_back(run_dir: Path, within_s: float, retry_s: float = 10.0) -> int:
    """Push one run as soon as MongoDB ($SACRED_MONGO_URL) takes it, for `within_s`."""
    url, db_name = os.environ["SACRED_MONGO_URL"], mongo.db_name()

    def push_once() -> str:
        client = mongo.connect(url)
        try:
            return Pusher(client[db_name]).push(FileRun(run_dir))
        finally:
            client.close()

    try:
        outcome = retry(push_once, Deadline(within_s), retry_s, errors=(PyMongoError,))
    except PyMongoError as err:
        print(
            f"{datetime.now():%H:%M:%S} MongoDB at {mongo.hosts(url)} still down "
            f"({type(err).__name__}); giving up: run `epymarl-sn runs push` later",
            flush=True,
        )
        return 1
    print(
        f"{datetime.now():%H:%M:%S} run {run_dir}: {outcome} in MongoDB at {mongo.hosts(url)}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=push_when_back.__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--within", type=float, required=True, metavar="SECONDS")
    parser.add_argument("--retry", type=float, default=10.0, metavar="SECONDS")
    args = parser.parse_args()
    sys.exit(push_when_back(args.run_dir, args.within, args.retry))
