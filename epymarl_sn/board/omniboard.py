"""Omniboard on 127.0.0.1 for the user's runs: `epymarl-sn board`.

    open_board(omniboard_js, workdir, port=9000, mongo_url=URL)    # a MongoDB of the user's
    open_board(omniboard_js, workdir, port=9000, store="results/sacred")  # a local server

Without a MongoDB URL, a local MongoDB-compatible server (`local_server`, its data
in STORE/.board-mongo, kept between sessions) receives the file-storage runs through
`push`, again every 30 s so that new runs show. Omniboard listens on 127.0.0.1 only
(it binds every interface by itself) and shows runs under their preset's name.

What a researcher of the paper looks for comes first: Omniboard 2.16 keeps the runs
table's columns only in the browser (localStorage `default|RunsTable|1`), so its page
gets a script (PAGE_DEFAULTS) that, once per browser, shows VIEW_COLUMNS in that order,
hides the others (still in Show/Hide; later changes are the user's), and opens the run
detail page's metrics plot on PLOT_METRICS. Values no config path holds (the task,
critic_sn `none` for runs without the SN critic, env steps) are kept in each run's
`epymarl_sn` field, filled by `derive_fields`. Omniboard 2.16 does not reconnect once
its MongoDB restarts (HTTP 500 from then on: `pool destroyed`, or `no connection
available` after a longer outage): it is restarted once MongoDB answers again.
Ctrl-C (KeyboardInterrupt) stops what was started, Omniboard first.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pymongo.database import Database
from pymongo.errors import PyMongoError

from epymarl_sn.board.local_server import LocalServer
from epymarl_sn.board.push import push
from epymarl_sn.errors import BoardError
from epymarl_sn.sn.config import critic_sn_of
from epymarl_sn.tracking import mongo
from epymarl_sn.values import task_name
from epymarl_sn.waiting import Deadline, die_with_parent, stop_process, wait_until

# Omniboard's server, made to listen on 127.0.0.1 only: its own code calls listen(port)
LOCALHOST_ONLY = """
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number' || /^[0-9]+$/.test(String(port))) {
    const callbacks = rest.filter(a => typeof a === 'function');
    return listen.call(this, Number(port), '127.0.0.1', ...callbacks);
  }
  return listen.call(this, port, ...rest);
};
process.env.NODE_ENV = 'production';
// the page Omniboard sends for every route of its app, with the board's defaults
const path = require('path');
const fs = require('fs');
const express = require(require.resolve('express', {paths: [path.dirname(process.argv[1])]}));
// its static files without a directory index, so that `/` gets the page below too
const serveStatic = express.static;
express.static = Object.assign(
  (root, options) => serveStatic(root, Object.assign({}, options, {index: false})), serveStatic);
const sendFile = express.response.sendFile;
express.response.sendFile = function (file, ...rest) {
  const defaults = process.env.EPYMARL_SN_PAGE_DEFAULTS;
  if (defaults && path.basename(String(file)) === 'index.html') {
    const html = fs.readFileSync(file, 'utf8');
    const script = '<head><script>' + defaults + '</script>';
    return this.type('html').send(html.replace('<head>', script));
  }
  return sendFile.call(this, file, ...rest);
};
require(process.argv[1]);
"""

# what Omniboard answers (HTTP 500) once its MongoDB connection is gone, until restarted
LOST_CONNECTION = ("pool destroyed", "Topology was destroyed", "no connection available")

# Omniboard's custom columns: a path in the run's document (Omniboard resolves it from
# the document's root: `config.seed`, not `seed`)
CUSTOM_COLUMNS = {
    "env": "config.env",
    "task": "epymarl_sn.task",  # the SMAC map, else the gym env key
    "seed": "config.seed",
    "critic_sn": "epymarl_sn.critic_sn",
    "env steps": "epymarl_sn.t_env",
}
# Omniboard's metric columns: the last value of a metric
METRIC_COLUMNS = {"test win rate": "test_battle_won_mean", "test return": "test_return_mean"}
# the columns earlier versions of the board set up, replaced where the user left them
OLD_CUSTOM_COLUMNS = {
    "map": "env_args.map_name",
    "env": "env_args.key",
    "seed": "seed",
    "critic_sn": "critic_sn",
}
OLD_METRIC_COLUMNS = {"test_battle_won_mean": "test_battle_won_mean"}
# the runs table's columns in order, with their widths (px): at 1280 px, 130 px of fixed
# columns and 1110 px of these leave room for a scroll bar
VIEW_COLUMNS = {
    "_id": 50,  # with the row's checkbox and expander, fixed on the left (130 px)
    "experiment_name": 110,
    "env": 115,
    "task": 115,
    "seed": 90,
    "critic_sn": 80,
    "status": 100,
    "test win rate": 95,
    "test return": 95,
    "env steps": 85,
    "start_time": 150,
    "duration": 75,
}
# the run detail page's metrics plot: return, win rate, critic gradient norm, sigmas
PLOT_METRICS = (
    "return_mean",
    "test_return_mean",
    "test_battle_won_mean",
    "critic_grad_norm",
    "critic_sigma_layer1",
    "critic_sigma_layer2",
    "critic_sigma_layer3",
)
# Omniboard's localStorage keys (its database key is `default` with MONGO_URI; the
# plot's key is built from a prop Omniboard never sets), and the board's own mark
PAGE_DEFAULTS = """(function () {
  var TABLE = 'default|RunsTable|1', PLOT = 'undefined|MetricsPlotView|default';
  var DONE = 'epymarl-sn|RunsTable|columns';
  var columns = %(columns)s, widths = %(widths)s, metrics = %(metrics)s;
  function option(name, selected) { return {label: name, value: name, selected: selected}; }
  if (localStorage.getItem(PLOT) === null) {
    // 700 px (Omniboard's least): the plot and its legend fit the detail page at 1280 px
    localStorage.setItem(PLOT, JSON.stringify({plotWidth: 700, metricNameOptions: metrics.map(
      function (m) { return option(m, true); })}));
  }
  if (localStorage.getItem(DONE) !== null) { return; }
  // Omniboard stores the table's first state (every column, its order) once it has
  // runs: store the chosen columns instead, once, and load the page again with them
  var setItem = Storage.prototype.setItem, chosen = false;
  Storage.prototype.setItem = function (key, value) {
    if (this === localStorage && key === TABLE) {
      if (chosen) { return; }
      var state = JSON.parse(value);
      if (state.columnOrder && state.columnOrder.length) {
        chosen = true;
        var rest = state.dropdownOptions.filter(function (o) {
          return columns.indexOf(o.value) < 0; });
        state.columnOrder = columns.slice();
        state.dropdownOptions = columns.map(function (c) { return option(c, true); }).concat(
          rest.map(function (o) { return option(o.value, false); }));
        state.columnWidths = Object.assign({}, state.columnWidths, widths);
        setItem.call(localStorage, TABLE, JSON.stringify(state));
        setItem.call(localStorage, DONE, '1');
        location.reload();
        return;
      }
    }
    return setItem.call(this, key, value);
  };
})();"""
PUSH_EVERY_S = 30.0


def page_defaults() -> str:
    """The script Omniboard's page gets (see the module docstring)."""
    return PAGE_DEFAULTS % {
        "columns": json.dumps(list(VIEW_COLUMNS)),
        "widths": json.dumps(VIEW_COLUMNS),
        "metrics": json.dumps(list(PLOT_METRICS)),
    }


def omniboard_uri(url: str, db_name: str) -> str:
    """The URL with the database as its path, as Omniboard wants it; a login keeps
    the database it authenticates against (pymongo's default: the path, else admin)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if "@" in parts.netloc and "authSource" not in query:
        query["authSource"] = parts.path.strip("/") or "admin"
    return urlunsplit((parts.scheme, parts.netloc, "/" + db_name, urlencode(query), ""))


def setup_columns(db: "Database[dict[str, Any]]") -> None:
    """Omniboard's columns for what tells runs apart; a column the user changed stays."""
    for name, path in OLD_CUSTOM_COLUMNS.items():
        db["omniboard.custom.columns"].delete_one({"name": name, "config_path": path})
    for name, metric in OLD_METRIC_COLUMNS.items():
        db["omniboard.metric.columns"].delete_one({"name": name, "metric_name": metric})
    for name, path in CUSTOM_COLUMNS.items():
        db["omniboard.custom.columns"].update_one(
            {"name": name}, {"$setOnInsert": {"name": name, "config_path": path}}, upsert=True
        )
    for name, metric in METRIC_COLUMNS.items():
        db["omniboard.metric.columns"].update_one(
            {"name": name},
            {"$setOnInsert": {"name": name, "metric_name": metric, "extrema": "last", "lastn": 1}},
            upsert=True,
        )


def derive_fields(db: "Database[dict[str, Any]]") -> int:
    """Fill each run's `epymarl_sn` field (task, critic_sn, env steps so far) where it
    is missing or the run was still running; -> how many runs were filled."""
    filled = 0
    for run in db.runs.find({"epymarl_sn.final": {"$ne": True}}, {"config": 1, "status": 1}):
        config = run.get("config") or {}
        steps = [
            m["steps"][-1]
            for m in db.metrics.find({"run_id": run["_id"]}, {"steps": 1})
            if m.get("steps")
        ]
        critic_sn = critic_sn_of(config)
        fields = {
            "task": task_name(config.get("env_args") or {}, config.get("env", "")),
            "critic_sn": critic_sn if isinstance(critic_sn, str) else str(critic_sn),
            "t_env": max(steps, default=0),
            "final": run.get("status") not in ("RUNNING", "QUEUED"),
        }
        db.runs.update_one({"_id": run["_id"]}, {"$set": {"epymarl_sn": fields}})
        filled += 1
    return filled


def port_free(port: int) -> bool:
    with socket.socket() as s:
        # as node listens: a port whose old connections linger (TIME_WAIT) is free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Omniboard:
    """Omniboard's node server on 127.0.0.1:`port` for the database of `uri`."""

    def __init__(self, entry: Path, uri: str, port: int, log: Path):
        self.entry, self.uri, self.port, self.log = entry, uri, port, log
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sacred"

    def start(self, timeout_s: float = 90.0) -> "Omniboard":
        if not port_free(self.port):
            raise BoardError(f"port {self.port} on 127.0.0.1 is taken: choose another with --port")
        with open(self.log, "a") as log:
            # the URL reaches Omniboard through its environment, never its command line
            self.proc = subprocess.Popen(
                ["node", "-e", LOCALHOST_ONLY, str(self.entry)],
                env={
                    **os.environ,
                    "MONGO_URI": self.uri,
                    "PORT": str(self.port),
                    "EPYMARL_SN_PAGE_DEFAULTS": page_defaults(),
                },
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # gone with `board`, however it dies
                preexec_fn=partial(die_with_parent, os.getpid()),
            )
        proc = self.proc
        if not wait_until(
            lambda: self.problem() is None,
            Deadline(timeout_s),
            every_s=0.5,
            give_up=lambda: proc.poll() is not None,
        ):
            self.stop()
            raise BoardError(f"Omniboard did not start ({self._last_line()}; log: {self.log})")
        return self

    def problem(self) -> Optional[str]:
        """None while Omniboard serves runs, else what is wrong.

        While MongoDB is down Omniboard answers 500; once MongoDB is back, it keeps
        answering 500 (LOST_CONNECTION) until restarted.
        """
        if self.proc is None or self.proc.poll() is not None:
            return "is not running"
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/Runs/count", timeout=10) as reply:
                json.load(reply)
            return None
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            lost = [m for m in LOST_CONNECTION if m in body]
            if lost:
                return f"lost its MongoDB connection (HTTP 500, {lost[0]})"
            return f"answers HTTP {err.code}"
        except (OSError, ValueError) as err:
            return f"does not answer ({type(err).__name__})"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace_s=10)

    def _last_line(self) -> str:
        lines = (
            self.log.read_text(errors="replace").strip().splitlines() if self.log.is_file() else []
        )
        return lines[-1][:300] if lines else "no output"


def refresh_fields(mongo_url: str, db_name: str) -> None:
    """`derive_fields` for new and running runs; a MongoDB that is down is left to the
    Omniboard check, which says so."""
    client = mongo.connect(mongo_url)
    try:
        derive_fields(client[db_name])
    except PyMongoError:
        pass
    finally:
        client.close()


def open_board(
    omniboard_js: Path,
    workdir: Path,
    port: int = 9000,
    mongo_url: Optional[str] = None,
    db_name: str = "epymarl",
    store: Optional[Path] = None,
    say: Callable[[str], None] = print,
    check_every_s: float = 3.0,
) -> None:
    """Serve Omniboard until KeyboardInterrupt, then stop what was started; logs go
    to `workdir`."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    server = None
    omniboard = None
    try:
        if mongo_url is None:
            assert store is not None  # the caller gives a MongoDB URL or a store
            # next to the runs it copies: one per store, gone with it
            server = LocalServer(Path(store) / ".board-mongo", log=workdir / "mongo.log").start()
            mongo_url = server.url
            counts = push(store, mongo_url, db_name)
            say(
                f"{store}: {counts.added} runs added to the local MongoDB "
                f"(127.0.0.1:{server.port}, data in {server.storage}), "
                f"{counts.completed} completed, {counts.unchanged} already there"
            )
        client = mongo.connect(mongo_url)
        try:
            access = mongo.check_access(client, mongo.hosts(mongo_url), db_name, 5.0)
            if access:
                raise BoardError(access.message)
            setup_columns(client[db_name])
            derive_fields(client[db_name])
        finally:
            client.close()
        omniboard = Omniboard(
            omniboard_js, omniboard_uri(mongo_url, db_name), port, workdir / "omniboard.log"
        ).start()
        say(
            f"Omniboard: {omniboard.url}  (runs of MongoDB {mongo.hosts(mongo_url)}, database "
            f"{db_name}; Ctrl-C stops it)"
        )
        next_push = Deadline(PUSH_EVERY_S)
        while True:
            time.sleep(check_every_s)
            problem = omniboard.problem()
            # while MongoDB itself is down, a restarted Omniboard could not connect either
            if (
                problem
                and ("lost" in problem or "not running" in problem)
                and mongo.ping(mongo_url, db_name) is None
            ):
                say(f"Omniboard {problem}; MongoDB answers: restarting Omniboard")
                omniboard.stop()
                omniboard.start()
            if next_push.passed():
                if server is not None and store is not None:
                    counts = push(store, mongo_url, db_name)
                    if counts.added or counts.completed:
                        say(f"{store}: {counts.added} new runs, {counts.completed} completed")
                refresh_fields(mongo_url, db_name)
                next_push = Deadline(PUSH_EVERY_S)
    finally:
        if omniboard is not None:
            omniboard.stop()
        if server is not None:
            server.stop()
