"""Sacred's MongoObserver for long training runs, used when SACRED_MONGO_URL is set.

What it changes in Sacred's MongoObserver:
- At start, MongoDB must answer within seconds, or the process stops with one line
  naming host:port (never the credentials) before any training.
- Mid-run, a MongoDB outage never stops training and never loses a metric:
  Sacred drops an observer after its first exception, so errors of the connection
  or of the server are caught here; metrics logged meanwhile are kept in memory
  and sent, with the run document, at the first heartbeat (every 10 s) after
  MongoDB is back. At the end of the run it
  waits up to `final_wait_s` (EPYMARL_SN_MONGO_FINAL_WAIT_S, default 120) for MongoDB;
  if it is still down then, it says what MongoDB's copy lacks and leaves a background
  process that pushes the complete file-storage copy (`python -m epymarl_sn.board.push`,
  a program of its own: the run never imports it) once MongoDB is
  back, within a day: the run does not stay RUNNING there.
- The run is named by its preset (config `name`, e.g. mappo_sn) rather than
  EPyMARL's experiment name `pymarl`, so that Omniboard tells runs apart.
- The models EPyMARL saves (`save_model=True`) become artifacts of the run.
- Its run ids are MongoDB's own, taken after the FileStorageObserver has picked
  its directory: ids in a database shared by several machines are no file names.
- A resumed run (`epymarl-sn resume`) goes on in the stopped run's document (the id
  its checkpoint names): status RUNNING again, start time, artifacts and output
  kept, its metrics cut back to the checkpoint's points (`checkpoint.metrics`).
"""

import logging
import math
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from sacred.observers import MongoObserver
from sacred.serializer import flatten

from epymarl_sn.checkpoint.config import resumed
from epymarl_sn.checkpoint.files import Checkpoint
from epymarl_sn.checkpoint.metrics import metrics_at_checkpoint
from epymarl_sn.console import say
from epymarl_sn.errors import CheckpointError, StoreError
from epymarl_sn.tracking import files, mongo, stop
from epymarl_sn.tracking.saved_models import SavedModels
from epymarl_sn.waiting import Deadline, wait_until

CONNECT_TIMEOUT_S = 5.0
# below the FileStorageObserver's 20: Sacred starts observers highest priority first
PRIORITY = 10
# how long the background push of a run waits for MongoDB to come back
FINISH_WITHIN_S = 24 * 3600


def connect_checked(url: str, db_name: str) -> "tuple[str, MongoClient[dict[str, Any]]]":
    """-> (host:port of `url`, a client that reads `db_name` there); a URL that is not
    MongoDB's, a server that does not answer or refuses us: StoreError in one line."""
    try:
        where = mongo.hosts(url)
        client = mongo.connect(url, CONNECT_TIMEOUT_S)
    except (PyMongoError, ValueError) as err:
        raise StoreError(
            f"SACRED_MONGO_URL is not a valid MongoDB URL ({type(err).__name__}); "
            "expected mongodb://[user:password@]host[:port]"
        ) from None
    problem = mongo.check_access(client, where, db_name, CONNECT_TIMEOUT_S)
    if problem and problem.refused:
        raise StoreError(problem.message)
    if problem:
        raise StoreError(
            f"{problem.message}. Start MongoDB (docker compose -f "
            "docker/docker-compose.yml up -d mongo), fix SACRED_MONGO_URL, or unset it "
            "to keep runs in file storage only"
        )
    return where, client


FINAL_WAIT_ENV = "EPYMARL_SN_MONGO_FINAL_WAIT_S"


def final_wait_s() -> float:
    """$EPYMARL_SN_MONGO_FINAL_WAIT_S (default 120); StoreError naming it if it is not
    a number of seconds. Read when an observer is made: a run without MongoDB never
    reads it."""
    text = os.environ.get(FINAL_WAIT_ENV, "120")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise StoreError(
            f"{FINAL_WAIT_ENV}={text!r} is not a number of seconds >= 0; "
            f"e.g. {FINAL_WAIT_ENV}=120, or unset it"
        )
    return value


class TrackingMongoObserver(MongoObserver):
    retry_interval_s = 5.0
    # set by started_event, before any other event (Sacred's type allows None)
    run_entry: dict[str, Any]

    def __init__(self, url: str, db_name: str = "epymarl", **kwargs: Any) -> None:
        # EPyMARL sets the root logger to DEBUG: pymongo would log every command and
        # server check into the run's output
        logging.getLogger("pymongo").setLevel(logging.WARNING)
        try:
            self.final_wait_s = final_wait_s()
            mongo.db_name({mongo.DB_ENV: db_name})  # main.py's is $SACRED_MONGO_DB
            self.where, client = connect_checked(url, db_name)
        except StoreError as err:
            # main.py builds its observers before Sacred's run, where nothing reports
            # the plugin's errors: its bad input is `error: ...` and exit status 1
            raise SystemExit(f"error: {err}") from None
        super().__init__(client=client, db_name=db_name, priority=PRIORITY, **kwargs)
        self._url, self._db_name = url, db_name
        # the heartbeat thread and the main thread (final events) both send
        self._lock = threading.RLock()
        # metric name -> {"steps": [...], "values": [...], "timestamps": [...]}
        self._unsent: dict[str, dict[str, list[Any]]] = {}
        self._info: dict[str, Any] = {}
        self._down_since: Optional[datetime] = None
        self._models: Optional[SavedModels] = None
        self._file_dir: Optional[Path] = None
        self._handed_over = False  # to the background push: this observer writes no more
        self._earlier_out = ""  # a resumed run's output before it stopped
        self._kept_metrics: dict[str, Any] = {}  # a resumed run's metric documents: name -> id

    def started_event(
        self,
        ex_info: dict[str, Any],
        command: str,
        host_info: dict[str, Any],
        start_time: datetime,
        config: dict[str, Any],
        meta_info: dict[str, Any],
        _id: Any,
    ) -> Any:
        self._models = SavedModels(config, started=datetime.now())
        # started after the FileStorageObserver (lower priority), with its run id
        file_dir = files.run_dir(_id)
        self._file_dir = Path(file_dir) if file_dir else None
        ex_info = {**ex_info, "name": str(config.get("name") or ex_info.get("name"))}
        checkpoint = resumed()
        before = None if checkpoint is None else self._resumed_run(checkpoint)
        if before is not None:
            # Sacred's way to go on in an existing document; it updates that dict
            self.overwrite = dict(before)
        run_id = super().started_event(
            ex_info, command, host_info, start_time, config, meta_info, _id=None
        )
        if checkpoint is not None and before is not None:
            self._go_on(checkpoint, before, start_time)
        return run_id

    def _resumed_run(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """The stopped run's document, which the resumed run goes on in."""
        ids = checkpoint.meta["stores"].get("mongo")
        where = f"MongoDB at {self.where}, database {self.runs.database.name}"
        if ids is None:
            raise CheckpointError(
                f"cannot resume from {checkpoint.path} into {where}: the stopped run was "
                "not in MongoDB; resume without SACRED_MONGO_URL, then `epymarl-sn runs push`"
            )
        same_db = ids["db"] == self.runs.database.name
        doc = self.runs.find_one({"_id": ids["id"]}) if same_db else None
        if doc is None:
            raise CheckpointError(
                f"cannot resume from {checkpoint.path}: {where} has no run {ids['id']} "
                f"(the checkpoint's run is run {ids['id']} of database {ids['db']})"
            )
        return doc

    def _go_on(self, checkpoint: Checkpoint, before: dict[str, Any], start_time: datetime) -> None:
        """The stopped run's document, going on: its start, artifacts and output kept,
        the resume noted, its metrics as the checkpoint had them."""
        for key in ("start_time", "artifacts"):
            if key in before:
                self.run_entry[key] = before[key]
        self.run_entry["resumed"] = before.get("resumed", []) + [
            {"time": start_time, "t_env": checkpoint.t_env}
        ]
        for key in ("stop_time", "stop_reason", "fail_trace", "result"):
            self.run_entry.pop(key, None)
        self._earlier_out = before.get("captured_out") or ""
        run_id = self.run_entry["_id"]
        stored = {doc["name"]: doc for doc in self.metrics.find({"run_id": run_id})}
        saved = metrics_at_checkpoint(stored, checkpoint.metrics(), start_time)
        for name, doc in stored.items():
            if name not in saved:
                self.metrics.delete_one({"_id": doc["_id"]})
        for name, points in saved.items():
            done = self.metrics.update_one(
                {"run_id": run_id, "name": name}, {"$set": points}, upsert=True
            )
            kept = stored.get(name)
            self._kept_metrics[name] = kept["_id"] if kept else done.upserted_id
        self.runs.replace_one({"_id": run_id}, self.run_entry)

    def log_metrics(
        self, metrics_by_name: dict[str, dict[str, list[Any]]], info: dict[str, Any]
    ) -> None:
        # Sacred calls heartbeat_event right after this; it sends them
        with self._lock:
            for name, new in metrics_by_name.items():
                kept = self._unsent.setdefault(name, {"steps": [], "values": [], "timestamps": []})
                for field in kept:
                    kept[field].extend(new[field])
            self._info = info

    def heartbeat_event(
        self, info: dict[str, Any], captured_out: str, beat_time: datetime, result: Any
    ) -> None:
        with self._lock:
            # a heartbeat still blocked on the dead server when the run ended
            if self._handed_over:
                return
            self._info = info
            self.run_entry.update(
                info=flatten(info),
                captured_out=self._earlier_out + captured_out,
                heartbeat=beat_time,
                result=flatten(result),
            )
            self._send(finished=False)

    def completed_event(self, stop_time: datetime, result: Any) -> None:
        self._finish(stop_time=stop_time, result=flatten(result), status="COMPLETED")

    def interrupted_event(self, interrupt_time: datetime, status: str) -> None:
        if getattr(self, "run_entry", None) is None:
            return  # stopped before it started (the file storage could not start the run)
        reason = stop.stop_reason()  # e.g. stopped by SIGTERM
        self._finish(
            stop_time=interrupt_time, status=status, **({"stop_reason": reason} if reason else {})
        )

    def failed_event(self, fail_time: datetime, fail_trace: list[str]) -> None:
        self._finish(stop_time=fail_time, status="FAILED", fail_trace=fail_trace)

    def save(self) -> None:
        # Sacred's save() ignores lost connections; _send needs to know, to retry
        self.runs.update_one({"_id": self.run_entry["_id"]}, {"$set": self.run_entry})

    def _finish(self, **fields: Any) -> None:
        deadline = Deadline(self.final_wait_s)
        with self._lock:
            self.run_entry.update(fields)
            wait_until(lambda: self._send(finished=True), deadline, self.retry_interval_s)
            if self._down_since is not None:
                self._handed_over = True
                say(
                    f"MongoDB at {self.where} still takes no writes {self.final_wait_s:g}s after "
                    f"the run ended: its copy of run {self.run_entry['_id']} lacks "
                    f"{self._lacks()}; the file-storage copy is complete. {self._finish_later()}"
                )

    def _lacks(self) -> str:
        points = sum(len(m["values"]) for m in self._unsent.values())
        lacks = [
            f"{points} metric points of {len(self._unsent)} metrics",
            f"the final status {self.run_entry['status']}",
            f"the output since {self._down_since:%H:%M:%S}",
        ]
        if self._models is not None:
            stored = {a["name"] for a in self.run_entry["artifacts"]}
            models = [n for n, _ in self._models.files(finished=True) if n not in stored]
            if models:
                lacks.append(f"{len(models)} saved model files")
        return ", ".join(lacks[:-1]) + " and " + lacks[-1]

    def _finish_later(self) -> str:
        """Leave a process that pushes the file-storage copy once MongoDB is back."""
        if self._file_dir is None:
            return "Push it with `epymarl-sn runs push` once MongoDB is back."
        log = self._file_dir / "mongo_push.log"
        with open(log, "a") as out:
            # the URL reaches it through the environment, never its command line
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "epymarl_sn.board.push",
                    str(self._file_dir),
                    "--within",
                    str(FINISH_WITHIN_S),
                ],
                env={**os.environ, "SACRED_MONGO_URL": self._url, "SACRED_MONGO_DB": self._db_name},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return (
            f"Process {proc.pid} pushes it once MongoDB is back (within "
            f"{FINISH_WITHIN_S // 3600} h, log {log}); or run `epymarl-sn runs push "
            f"--store {self._file_dir}` then."
        )

    def _send(self, finished: bool) -> bool:
        """Send unsent metrics, new saved models and the run document; False if down."""
        try:
            self._send_metrics()
            self._send_models(finished)
            self.save()
        except (ConnectionFailure, OperationFailure) as err:
            if self._down_since is None:
                self._down_since = datetime.now()
                say(
                    f"cannot write to MongoDB at {self.where} ({type(err).__name__}); "
                    "training goes on, metrics are kept in memory and sent when it is back"
                )
            return False
        if self._down_since is not None:
            say(
                f"MongoDB at {self.where} is back (down since "
                f"{self._down_since:%H:%M:%S}); buffered metrics sent"
            )
            self._down_since = None
        return True

    def _send_metrics(self) -> None:
        # one metric at a time, forgotten once stored: a failure part-way resends
        # only what MongoDB does not have yet
        for name in list(self._unsent):
            # adds the metric's id to the run's info the first time
            super().log_metrics({name: self._unsent[name]}, self._info)
            del self._unsent[name]
        # a resumed run's info is its checkpoint's, which lacks the metrics first sent
        # after the checkpoint was written; their documents were kept, so Sacred does
        # not list them again
        listed = {m["name"] for m in self._info.get("metrics", [])}
        for name, doc_id in self._kept_metrics.items():
            if name not in listed:
                self._info.setdefault("metrics", []).append({"name": name, "id": str(doc_id)})
        self.run_entry["info"] = flatten(self._info)

    def _send_models(self, finished: bool) -> None:
        if self._models is None:
            return
        # an artifact is listed in the run document once its file is in GridFS,
        # so a failed upload is retried and a stored one is not sent twice
        stored = {a["name"] for a in self.run_entry["artifacts"]}
        for name, path in self._models.files(finished):
            if name not in stored:
                self.artifact_event(name, str(path), content_type="application/octet-stream")
