"""Read Sacred runs from a FileStorageObserver tree or from MongoDB (read-only).

    from epymarl_sn.tracking.store import open_store, parse_filters

    store = open_store("results/sacred")          # or "mongodb://host:27017"
    for run in store.runs(parse_filters(["critic_sn=last", "status=COMPLETED"])):
        run.id, run.status, run.config["seed"], run.start_time, run.stop_time
        steps, values = run.metrics["return_mean"]

- `open_store(location)` -> a `Store`: a directory (searched recursively for Sacred
  run directories, e.g. EPyMARL's results/sacred) or a `mongodb://` / `mongodb+srv://`
  URL (database `SACRED_MONGO_DB`, default `epymarl`). It is the one place that picks
  the kind of store; `is_mongo_url` is the one test of a location's scheme. Bad
  locations raise StoreError with a one-line message; a URL's credentials never
  appear in it.
- `Store` (a Protocol, FileStore and MongoStore): runs, run, sacred_info, settle,
  interrupt, close; `str(store)` names it without credentials.
- `store.runs(filters=())` -> list of Run, in start order. A damaged run of file
  storage (run.json or config.json cut short, empty, not a JSON object) is skipped
  with one warning naming its path and what is wrong; `runs(filters, damaged=True)`
  lists it instead, with status DAMAGED and `problem` saying what is wrong. A
  damaged metrics.json gives the run no metrics, with one warning.
- `Run`: `id` (MongoDB `_id`, or the run directory relative to the store root),
  `status`, `config` (dict), `start_time` / `stop_time` / `heartbeat` (datetime,
  UTC, or None), `problem` (what is wrong with a DAMAGED run), `stale_s(now)` (how
  long a RUNNING run's heartbeat has been silent, when over STALE_AFTER_S),
  `metrics` (name -> Series(steps, values), read on first use), `get(key)` for a
  dotted config key (`critic_sn` is `none` for runs without the SN critic).
- `store.run(id)` -> the Run of that id (a MongoDB `_id`, or a run directory), or
  StoreError naming the ids there are.
- `settle_runs(location, comment, status, reason)`: after a run's process ended,
  mark its stored runs (found by Sacred's `--comment`) that still say RUNNING as
  `status`, with `stop_reason`; a run can no longer be running once its process is gone.
- `mark_stale(location, filters)`: mark stale RUNNING runs INTERRUPTED, with a reason.
- `parse_filters(["KEY=VALUE", ...])` -> filters; KEY is a dotted config key or
  `status`. VALUE is read as YAML, so `seed=1`, `critic_sn_clamp=true`,
  `critic_sn=[1,2]` compare with typed config values; numbers compare by value
  (`lr=5e-4` matches 0.0005).
"""

import json
import math
import os
import platform
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Protocol, Union

from epymarl_sn.console import say
from epymarl_sn.errors import DamagedRunError, StoreError
from epymarl_sn.sn.config import critic_sn_of
from epymarl_sn.tracking.atomic import write_failure, write_text
from epymarl_sn.tracking.mongo import connect, db_name, hosts
from epymarl_sn.values import is_number, same_as_text

MONGO_SCHEMES = ("mongodb://", "mongodb+srv://")
MISSING = object()
DAMAGED = "DAMAGED"  # the status `runs` lists for a run whose files cannot be read
# Sacred beats every 10 s: a RUNNING run silent for longer than this has no process,
# unless its process, asked on its own host, is still there (stopped, or swapping)
STALE_AFTER_S = 60
# the run's process id in Sacred's host info (the plugin registers it)
PID_KEY = "pid"


class Series(NamedTuple):
    steps: list[Any]
    values: list[Any]


@dataclass
class Run:
    id: Any  # MongoDB's _id, or the run directory relative to the store root
    status: Optional[str]
    config: dict[str, Any]
    start_time: Optional[datetime] = None
    stop_time: Optional[datetime] = None
    heartbeat: Optional[datetime] = None
    stop_reason: Optional[str] = None
    where: str = ""  # where the run's files are: its directory, or its host and checkout
    problem: Optional[str] = None  # what is wrong with a DAMAGED run
    host: dict[str, Any] = field(default_factory=dict)  # Sacred's host info (hostname, pid)
    _load_metrics: Callable[[], dict[str, Series]] = field(default=dict, repr=False, compare=False)
    _metrics: Optional[dict[str, Series]] = field(default=None, repr=False, compare=False)

    @property
    def metrics(self) -> dict[str, Series]:
        if self._metrics is None:
            self._metrics = self._load_metrics()
        return self._metrics

    def stale_s(self, now: Optional[datetime] = None) -> Optional[float]:
        """Seconds since a RUNNING run's last heartbeat (or start) when no process
        runs it any more, None otherwise. On the host that runs it, its process says
        (a process stopped by SIGSTOP beats no more, and still runs); elsewhere, a
        heartbeat older than STALE_AFTER_S."""
        last = self.heartbeat or self.start_time
        if self.status != "RUNNING" or last is None:
            return None
        now = now or datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as Sacred
        age = max((now - last).total_seconds(), 0.0)
        alive = self.process_alive()
        if alive is not None:
            return None if alive else age
        return age if age > STALE_AFTER_S else None

    def process_alive(self) -> Optional[bool]:
        """Whether the run's process still exists: None when that cannot be asked here
        (another host, or a run recorded without its pid)."""
        pid = self.host.get(PID_KEY)
        if not isinstance(pid, int) or self.host.get("hostname") != platform.node():
            return None
        return process_exists(pid, self.start_time)

    def get(self, key: str, default: Any = None) -> Any:
        """A dotted config key (`env_args.map_name`); `status` is the run's status;
        `critic_sn` is `none` for a run without the SN critic (`mappo_paper`)."""
        if key == "status":
            return self.status
        if key == "critic_sn":
            return critic_sn_of(self.config)
        value = self.config
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value


def process_exists(pid: int, started: Optional[datetime]) -> bool:
    """Whether process `pid` exists, is no zombie, and began before `started` (naive
    UTC) or about then: a later one got the pid of a process that ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's: it exists
    except (OverflowError, ValueError):
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        with open("/proc/stat") as f:
            boot = next(float(x.split()[1]) for x in f if x.startswith("btime"))
        began = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return True  # no /proc (macOS): the pid exists
    if started is None:
        return True
    return began <= started.replace(tzinfo=timezone.utc).timestamp() + 5


@dataclass(frozen=True)
class Filter:
    key: str
    text: str

    def matches(self, run: Run) -> bool:
        actual = run.get(self.key, MISSING)
        return actual is not MISSING and same_as_text(actual, self.text)


def parse_filters(args: Iterable[str]) -> list[Filter]:
    """`KEY=VALUE` strings -> filters; a malformed one raises StoreError."""
    filters = []
    for arg in args:
        key, sep, text = arg.partition("=")
        if not sep or not key:
            raise StoreError(
                f"filter '{arg}' is not KEY=VALUE (e.g. critic_sn=last, "
                "env_args.map_name=corridor, status=COMPLETED)"
            )
        key, text = key.strip(), text.strip()
        # Sacred writes statuses in capitals
        filters.append(Filter(key, text.upper() if key == "status" else text))
    return filters


RESULTS_DIR = os.path.join("results", "sacred")  # EPyMARL's file storage, from its root


def default_location(results_dir: Union[str, Path] = RESULTS_DIR) -> str:
    """Where runs go: MongoDB when SACRED_MONGO_URL is set (the patched main.py adds
    a MongoObserver then), else the file storage in `results_dir`."""
    url = os.environ.get("SACRED_MONGO_URL")
    if url and not is_mongo_url(url):
        # never shown: it may hold a password
        raise StoreError(
            "SACRED_MONGO_URL does not start with mongodb:// or mongodb+srv://; "
            "expected mongodb://[user:password@]host[:port], or unset it for file storage"
        )
    return url or str(results_dir)


class Store(Protocol):
    """Where Sacred runs are stored: file storage or MongoDB."""

    def runs(self, filters: Sequence[Filter] = (), damaged: bool = False) -> list[Run]:
        """The runs matching `filters`, in start order; a damaged run of file storage
        skipped with a warning, or with `damaged`, listed as DAMAGED."""
        ...

    def run(self, run_id: str) -> Run:
        """The run of that id, or StoreError naming how many there are."""
        ...

    def sacred_info(self, run: Run, keys: Sequence[str]) -> dict[str, Any]:
        """Those top-level keys of Sacred's record of `run` that it has (host, ...)."""
        ...

    def settle(
        self, comment: str, status: str, reason: str, now: datetime, replace_reason: bool
    ) -> int:
        """See settle_runs: the runs of Sacred comment `comment`, settled -> how many."""
        ...

    def interrupt(self, run: Run, reason: str, now: datetime) -> bool:
        """Mark `run` INTERRUPTED with `reason` if it still says RUNNING -> whether it did."""
        ...

    def close(self) -> None: ...


def is_mongo_url(location: Union[str, Path]) -> bool:
    """Whether a store's location is a MongoDB URL (else it is a directory)."""
    return str(location).startswith(MONGO_SCHEMES)


def open_store(location: Union[str, Path], must_exist: bool = True) -> Store:
    """The store at `location`; a directory that is not there is StoreError, or with
    `must_exist=False` a store with no runs (nothing has been stored there yet)."""
    if is_mongo_url(location):
        return MongoStore(str(location), db_name())
    return FileStore(location, must_exist)


def _no_run(run_id: str, store: object, count: int) -> StoreError:
    return StoreError(
        f"no run '{run_id}' in {store} ({count} run{'' if count == 1 else 's'} there; "
        "`epymarl-sn runs` lists them with their ids)"
    )


def utc_naive(value: datetime) -> datetime:
    """A time as Sacred writes it: naive UTC (a time with a zone is converted)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def parse_time(value: Any) -> Optional[datetime]:
    """A run's time as stored (ISO text in file storage, datetime in MongoDB, or None)
    -> naive UTC datetime; DamagedRunError if it is neither."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc_naive(value)
    try:
        return utc_naive(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        raise DamagedRunError(f"its time {value!r} is not an ISO time") from None


_warned: set[str] = set()


def warn_damaged(path: Path, problem: object) -> None:
    """One warning per damaged run and process (`board` re-reads its store every 30 s)."""
    if str(path) not in _warned:
        _warned.add(str(path))
        say(f"skipping damaged run {path}: {problem}")


def read_json_object(path: Path) -> dict[str, Any]:
    """A run file of file storage that must hold a JSON object; DamagedRunError
    saying what is wrong with it otherwise."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            # a FIFO would block the reader for good, a directory cannot be read
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise DamagedRunError(f"{path.name} is {kind}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DamagedRunError(f"{path.name} is missing") from None
    except OSError as err:
        raise DamagedRunError(f"{path.name} cannot be read ({err.strerror})") from None
    if not data.strip():
        raise DamagedRunError(f"{path.name} is empty ({len(data)} bytes)")
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise DamagedRunError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        if err.pos >= len(data.rstrip()) - 1 or err.msg.startswith("Unterminated"):
            raise DamagedRunError(
                f"{path.name} is cut short after {len(data)} bytes ({err.msg})"
            ) from None
        raise DamagedRunError(
            f"{path.name} is not valid JSON ({err.msg}, line {err.lineno} column {err.colno})"
        ) from None
    if not isinstance(value, dict):
        raise DamagedRunError(f"{path.name} holds a JSON {type(value).__name__}, not an object")
    return value


def series_problem(name: str, metric: Any) -> Optional[str]:
    """What is wrong with a stored metric ({"steps": [...], "values": [...]}), or None.
    Values may be NaN or infinite (a diverged run), or null (not logged)."""
    if not isinstance(metric, dict):
        return f"{name} is not a mapping of steps and values"
    steps, values = metric.get("steps"), metric.get("values")
    if not isinstance(steps, list) or not isinstance(values, list):
        return f"{name} lacks its steps or values lists"
    if len(steps) != len(values):
        return f"{name} has {len(steps)} steps but {len(values)} values"
    bad = next((v for v in steps if not is_number(v) or not math.isfinite(v)), None)
    if bad is not None:
        return f"{name} has a step that is not a number ({bad!r})"
    bad = next((v for v in values if v is not None and not is_number(v)), None)
    if bad is not None:
        return f"{name} has a value that is not a number ({bad!r})"
    return None


def checked_metrics(where: object, data: dict[str, Any]) -> dict[str, Series]:
    """The metrics of a run that are well formed; each other one is left out with one
    warning naming the run and what is wrong with it."""
    kept = {}
    for name, metric in data.items():
        problem = series_problem(name, metric)
        if problem:
            say(f"run {where}: metric left out: {problem}")
        else:
            kept[name] = Series(metric["steps"], metric["values"])
    return kept


def _select(runs, filters):
    # a damaged run has no config to filter by: only a status filter can leave it out
    chosen = [
        r
        for r in runs
        if all(f.matches(r) for f in filters if r.status != DAMAGED or f.key == "status")
    ]
    return sorted(chosen, key=lambda r: (r.start_time or datetime.min, str(r.id)))


class FileStore:
    """Runs of Sacred FileStorageObservers anywhere under a directory."""

    def __init__(self, root: Union[str, Path], must_exist: bool = True) -> None:
        self.root = Path(root).expanduser()
        if must_exist and not self.root.is_dir():
            raise StoreError(
                f"no run directory {self.root}: give --store a Sacred file-storage "
                "directory (e.g. EPyMARL's results/sacred) or a mongodb:// URL"
            )

    def __str__(self) -> str:
        return str(self.root)

    def run(self, run_id: str) -> Run:
        path = self.root / run_id
        try:
            there = (path / "run.json").is_file() and (path / "config.json").is_file()
        except OSError:  # a name too long for a path, ...: no run of that id
            there = False
        if not there:
            raise _no_run(run_id, self, len(self.runs()))
        return self._read(path, run_id)

    def run_files(self) -> Iterator[Path]:
        """Every run.json under the root, in name order; a directory that cannot be
        read gets one warning, not silence (its runs would be missing unsaid)."""
        if not self.root.is_dir():
            return iter([])  # nothing stored yet (must_exist=False)
        seen = set()

        def unreadable(err: OSError) -> None:
            if str(err.filename) not in _warned:
                _warned.add(str(err.filename))
                say(f"cannot read {err.filename} ({err.strerror}): the runs in it are left out")

        found = []
        for top, dirs, names in os.walk(self.root, onerror=unreadable, followlinks=True):
            real = os.path.realpath(top)
            if real in seen:  # a link back up the tree
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort()
            if "run.json" in names or "run.json" in dirs:
                found.append(Path(top) / "run.json")
        return iter(sorted(found))

    def runs(self, filters: Sequence[Filter] = (), damaged: bool = False) -> list[Run]:
        """The runs matching `filters`; damaged ones skipped with a warning, or with
        `damaged`, listed as DAMAGED."""
        runs = []
        for p in self.run_files():
            run_id = p.parent.relative_to(self.root).as_posix()
            try:
                runs.append(self._read(p.parent, run_id))
            except DamagedRunError as err:
                if damaged:
                    runs.append(Run(id=run_id, status=DAMAGED, config={}, problem=str(err)))
                else:
                    warn_damaged(p.parent, err)
        return _select(runs, filters)

    def _read(self, path: Path, run_id: str) -> Run:
        info = read_json_object(path / "run.json")
        return Run(
            id=run_id,
            status=info.get("status"),
            config=read_json_object(path / "config.json"),
            start_time=parse_time(info.get("start_time")),
            stop_time=parse_time(info.get("stop_time")),
            heartbeat=parse_time(info.get("heartbeat")),
            stop_reason=_stop_reason(info),
            where=str(path.resolve()),
            host=_host(info),
            _load_metrics=lambda: self._metrics(path),
        )

    def sacred_info(self, run: Run, keys: Sequence[str]) -> dict[str, Any]:
        info = read_json_object(self.root / run.id / "run.json")
        return {k: info[k] for k in keys if k in info}

    def settle(
        self, comment: str, status: str, reason: str, now: datetime, replace_reason: bool
    ) -> int:
        changed = 0
        for path in self.root.rglob("run.json"):
            try:
                info = read_json_object(path)
            except DamagedRunError:
                continue  # no status to settle; readers name it as damaged
            if info.get("meta", {}).get("comment") != comment:
                continue
            changes = _settled(info, status, reason, now.isoformat(), replace_reason)
            if changes:
                _rewrite(path, {**info, **changes})
                changed += 1
        return changed

    def interrupt(self, run: Run, reason: str, now: datetime) -> bool:
        path = self.root / str(run.id) / "run.json"
        info = read_json_object(path)
        if info.get("status") != "RUNNING":
            return False
        changes = {"status": "INTERRUPTED", "stop_reason": reason, "stop_time": now.isoformat()}
        _rewrite(path, {**info, **changes})
        return True

    def close(self) -> None:
        """Nothing to close: each read opens its own files."""

    @staticmethod
    def _metrics(path: Path) -> dict[str, Series]:
        if not (path / "metrics.json").exists():
            return {}
        try:
            data = read_json_object(path / "metrics.json")
        except DamagedRunError as err:
            say(f"run {path} has damaged metrics, read as none: {err}")
            return {}
        return checked_metrics(path, data)


class MongoStore:
    """Runs a Sacred MongoObserver wrote to `runs` and `metrics` of a database."""

    def __init__(self, url: str, db_name: str, timeout_s: float = 5.0) -> None:
        from pymongo.errors import PyMongoError

        try:
            self.where = hosts(url)
            client = connect(url, timeout_s)
        except (PyMongoError, ValueError) as err:
            raise StoreError(
                f"not a valid MongoDB URL ({type(err).__name__}): "
                "expected mongodb://[user:password@]host[:port]"
            ) from None
        self.client = client
        self.db = client[db_name]
        self.db_name = db_name
        self._errors = PyMongoError

    def __str__(self) -> str:
        return f"MongoDB {self.where}, database {self.db_name}"

    def run(self, run_id: str) -> Run:
        # Sacred's MongoObserver numbers runs (MongoDB's ints have 8 bytes); text ids
        # are kept for other writers
        number = run_id.isdigit() and len(run_id) < 19
        found = self._find({"_id": int(run_id) if number else run_id})
        if not found:
            raise _no_run(run_id, self, len(self._find({})))
        return found[0]

    def runs(self, filters: Sequence[Filter] = (), damaged: bool = False) -> list[Run]:
        """The runs matching `filters` (`damaged` is for file storage's sake: MongoDB
        holds no half-written run)."""
        # status is selected by the server; config values are compared here, where
        # command-line text can be matched leniently against typed values
        statuses = [f.text for f in filters if f.key == "status"]
        return _select(self._find({"status": statuses[-1]} if statuses else {}), filters)

    def _find(self, query: dict[str, Any]) -> list[Run]:
        fields = {
            "_id": 1,
            "status": 1,
            "config": 1,
            "start_time": 1,
            "stop_time": 1,
            "heartbeat": 1,
            "stop_reason": 1,
            "fail_trace": 1,
            "host.hostname": 1,
            f"host.{PID_KEY}": 1,
            "experiment.base_dir": 1,
        }
        try:
            docs = list(self.db.runs.find(query, fields))
        except self._errors as err:
            raise StoreError(
                f"cannot read runs from MongoDB at {self.where} "
                f"({type(err).__name__}): is it running and is the URL right?"
            ) from None
        return [
            Run(
                id=d["_id"],
                status=d.get("status"),
                config=d.get("config", {}),
                start_time=_mongo_time(d, "start_time"),
                stop_time=_mongo_time(d, "stop_time"),
                heartbeat=_mongo_time(d, "heartbeat"),
                stop_reason=_stop_reason(d),
                where=_mongo_where(d),
                host=_host(d),
                _load_metrics=partial(self._metrics, d["_id"]),
            )
            for d in docs
        ]

    def _metrics(self, run_id: Any) -> dict[str, Series]:
        try:
            docs = list(self.db.metrics.find({"run_id": run_id}))
        except self._errors as err:
            raise StoreError(
                f"cannot read metrics from MongoDB at {self.where} "
                f"({type(err).__name__}): is it running?"
            ) from None
        return checked_metrics(
            f"{run_id} of {self}", {m.get("name", "?"): m for m in docs if isinstance(m, dict)}
        )

    def sacred_info(self, run: Run, keys: Sequence[str]) -> dict[str, Any]:
        try:
            info = self.db.runs.find_one({"_id": run.id}, dict.fromkeys(keys, 1)) or {}
        except self._errors as err:
            raise StoreError(
                f"cannot read run {run.id} from MongoDB at {self.where} "
                f"({type(err).__name__}): is it running?"
            ) from None
        return {k: info[k] for k in keys if k in info}

    def settle(
        self, comment: str, status: str, reason: str, now: datetime, replace_reason: bool
    ) -> int:
        # MongoDB errors are not caught: the caller decides what an outage means
        changed = 0
        for doc in self.db.runs.find({"meta.comment": comment}, {"status": 1, "stop_reason": 1}):
            changes = _settled(doc, status, reason, now, replace_reason)
            if changes:
                self.db.runs.update_one({"_id": doc["_id"]}, {"$set": changes})
                changed += 1
        return changed

    def interrupt(self, run: Run, reason: str, now: datetime) -> bool:
        changes = {"status": "INTERRUPTED", "stop_reason": reason, "stop_time": now}
        try:
            done = self.db.runs.update_one(
                {"_id": run.id, "status": "RUNNING"}, {"$set": changes}
            ).modified_count
        except self._errors as err:
            raise StoreError(
                f"cannot write runs to MongoDB at {self.where} ({type(err).__name__})"
            ) from None
        return bool(done)

    def close(self) -> None:
        self.client.close()


def _host(info: dict[str, Any]) -> dict[str, Any]:
    host = info.get("host")
    return host if isinstance(host, dict) else {}


def _mongo_time(doc: dict[str, Any], key: str) -> Optional[datetime]:
    """A time of a MongoDB run; one that is not a time reads as none."""
    try:
        return parse_time(doc.get(key))
    except DamagedRunError:
        return None


def _stop_reason(info: dict[str, Any]) -> Optional[str]:
    """Why a run stopped: the sweep's `stop_reason`, else the last line of the
    traceback Sacred keeps of a FAILED run (the exception)."""
    trace = "".join(info.get("fail_trace") or []).strip()
    return info.get("stop_reason") or (trace.splitlines()[-1] if trace else None)


def _mongo_where(doc: dict[str, Any]) -> str:
    """Where a MongoDB run's files are: EPyMARL's file storage of the checkout it ran in
    (its src/ is Sacred's base_dir), on the host that ran it."""
    host = doc.get("host", {}).get("hostname", "an unknown host")
    src = doc.get("experiment", {}).get("base_dir")
    if not src:
        return f"on {host}"
    return f"on {host}, under {os.path.join(os.path.dirname(src), RESULTS_DIR)}"


def _settled(info, status, reason, now, replace_reason):
    """A stored run's info once its process is gone: RUNNING becomes `status`."""
    changes = {}
    if info.get("status") == "RUNNING":
        changes["status"] = status
        changes["stop_time"] = now
    if info.get("status") != "COMPLETED" and (replace_reason or not info.get("stop_reason")):
        changes["stop_reason"] = reason
    return changes


def settle_runs(
    location: str, comment: str, status: str, reason: str, replace_reason: bool = False
) -> int:
    """Mark the runs stored with Sacred comment `comment` whose process has ended:
    RUNNING ones become `status` (with a stop time), and every one not COMPLETED gets
    `stop_reason` (replacing the run's own with `replace_reason`: the caller stopped
    it, and knows better why than the signal the run recorded). -> how many runs were
    changed. MongoDB errors are not caught."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as Sacred writes
    store = open_store(location, must_exist=False)
    try:
        return store.settle(comment, status, reason, now, replace_reason)
    finally:
        store.close()


def _rewrite(path: Path, info: dict[str, Any]) -> None:
    """Replace a run.json in one step (a reader never sees half a file); StoreError
    in one line if it cannot be written (a read-only or full store)."""
    try:
        write_text(path, json.dumps(info, indent=2))
    except OSError as err:
        raise StoreError(f"{write_failure(path, err)}; the run keeps its old status") from None


def age_text(seconds: float) -> str:
    """A duration as `2d 4h`, `3h 12m`, `5m 10s` or `40s`."""
    s = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if s >= size:
            return f"{s // size}{unit} {s % size // sub_size}{sub}"
    return f"{s // 60}m {s % 60}s" if s >= 60 else f"{s}s"


def mark_stale(location: str, filters: Sequence[Filter] = ()) -> list[tuple[Run, str]]:
    """Mark every stale RUNNING run (see Run.stale_s) matching `filters` INTERRUPTED,
    with a stop_reason saying since when it was silent. -> (run, reason) of each."""
    store = open_store(location)
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as Sacred writes
    marked = []
    for run in store.runs([*filters, Filter("status", "RUNNING")]):
        age = run.stale_s(now)
        if age is None:
            continue
        last = run.heartbeat or run.start_time
        reason = (
            f"no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC ({age_text(age)} before "
            "`epymarl-sn runs mark-stale`): its process was gone"
        )
        done = store.interrupt(run, reason, now)
        if done:
            marked.append((run, reason))
    return marked
