"""`epymarl-sn board`: a real tiny mappo_sn run on SMAClite, shown by Omniboard (from
npm) and looked at through its REST API and in headless Chromium."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from epymarl_sn.board.local_server import free_port

# mappo_sn on SMAClite's 2s3z: the critic's sigmas and test_battle_won_mean are logged
SMACLITE_2S3Z = (
    "--config=mappo_sn",
    "--env-config=smaclite_sparse",
    "with",
    "env_args.map_name=2s3z",
    "t_max=1500",
    "test_interval=500",
    "test_nepisode=2",
    "log_interval=500",
    "runner_log_interval=500",
    "learner_log_interval=500",
    "batch_size_run=2",
    "buffer_size=2",
    "batch_size=2",
    "use_cuda=False",
)
CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
]


class Board:
    """`epymarl-sn board ARGS` in the background, until it prints Omniboard's address."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "epymarl_sn", "board", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines = []
        deadline = time.monotonic() + 300  # npm installs Omniboard on first use
        while not any(line.startswith("Omniboard: ") for line in self.lines):
            line = self.proc.stdout.readline()
            assert line or self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            self.lines.append(line)
        self.url = self.lines[-1].split()[1]

    def api(self, path, **query):
        url = f"{self.url}/api/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: json.dumps(v) for k, v in query.items()})
        with urllib.request.urlopen(url, timeout=20) as reply:
            return json.load(reply)

    def children(self):
        """PIDs whose parent is the board process."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return pids

    def interrupt(self):
        """Ctrl-C; -> the rest of its output."""
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        return out

    def close(self):
        """After a failed test: the board, then the servers it started, by their PIDs
        (killed, the board cannot stop them itself)."""
        if self.proc.poll() is None:
            children = self.children()
            self.proc.kill()
            self.proc.communicate()
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def chromium(url, tmp_path, out):
    """Headless Chromium at `url`, 1280 px wide: the page's DOM, and a screenshot in
    `out`. One profile per test: a first visit, as a new user's browser."""
    profile = tmp_path / "chromium-profile"
    base = [*CHROMIUM, f"--user-data-dir={profile}", "--window-size=1280,900"]
    subprocess.run(
        [*base, f"--screenshot={out}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert out.stat().st_size > 10_000
    return subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout


class TableCells(HTMLParser):
    """The runs table's cells (Omniboard's fixed-data-table): (style, text) each, and
    the width of each cell group (the fixed columns, the scrolled ones)."""

    def __init__(self, dom):
        super().__init__()
        self.cells, self.groups, self._open = [], [], []
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = attrs.get("class") or ""
        style = dict(
            (k.strip(), v.strip())
            for k, _, v in (part.partition(":") for part in (attrs.get("style") or "").split(";"))
            if k.strip()
        )
        cell = "fixedDataTableCellLayout_main" in classes
        if cell:
            self.cells.append([int(style["left"][:-2]), int(style["width"][:-2]), ""])
        if "fixedDataTableCellGroupLayout_cellGroupWrapper" in classes:
            self.groups.append(int(style["width"][:-2]))
        self._open.append(cell)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        if any(self._open):
            self.cells[-1][2] += data

    def rows(self):
        """The table's rows, each a list of (left, width, text): a row is two groups of
        cells (the fixed columns, then the scrolled ones), each starting at left 0."""
        groups = []
        for left, width, text in self.cells:
            if left == 0:
                groups.append([])
            groups[-1].append((left, width, text.strip()))
        return [groups[i] + groups[i + 1] for i in range(0, len(groups) - 1, 2)]


@pytest.fixture
def board():
    started = []

    def start(*args, env=None):
        started.append(Board(*args, env=env))
        return started[-1]

    yield start
    for b in started:
        b.close()


def test_board_shows_a_real_mappo_sn_run_in_a_browser(run_main, board, tmp_path):
    result = run_main(*SMACLITE_2S3Z, env={"SACRED_MONGO_URL": ""})
    assert result.proc.returncode == 0, result.output[-3000:]
    (file_run,) = result.runs
    store = file_run.path.parents[2]  # results/sacred
    b = board("--store", store, "--port", free_port(), env={"SACRED_MONGO_URL": ""})
    assert "1 runs added to the local MongoDB" in "".join(b.lines)
    assert b.url.startswith("http://127.0.0.1:")

    # through Omniboard's REST API
    (run,) = b.api("Runs")
    assert run["experiment"]["name"] == "mappo_sn" and run["status"] == "COMPLETED"
    metrics = {m["name"]: m for m in b.api("Metrics", query={"run_id": run["_id"]})}
    for name in ("critic_sigma_layer1", "test_battle_won_mean"):
        assert metrics[name]["steps"] == file_run.metrics[name]["steps"], name
        assert metrics[name]["values"] == file_run.metrics[name]["values"], name
    columns = {c["name"]: c["config_path"] for c in b.api("Omniboard.Custom.Columns")}
    assert columns == {
        "env": "config.env",
        "task": "epymarl_sn.task",
        "seed": "config.seed",
        "critic_sn": "epymarl_sn.critic_sn",
        "env steps": "epymarl_sn.t_env",
    }
    metric_columns = {c["name"]: c["metric_name"] for c in b.api("Omniboard.Metric.Columns")}
    assert metric_columns == {
        "test win rate": "test_battle_won_mean",
        "test return": "test_return_mean",
    }

    # the runs table at 1280 px, as a new user's browser first shows it: the paper's
    # columns in order, every one inside the table's width, filled with the run's values
    dom = chromium(b.url, tmp_path, tmp_path / "omniboard_runs.png")
    cells = TableCells(dom)
    header, row = cells.rows()[:2]
    names = [text for _, _, text in header]
    assert names == [
        "",  # the row's checkbox
        "",  # its expander
        "Id",
        "Experiment Name",
        "Env",
        "Task",
        "Seed",
        "Critic Sn",
        "Status",
        "Test win rate",
        "Test return",
        "Env steps",
        "Start Time",
        "Duration",
    ]
    fixed, scrolled = cells.groups[:2]
    assert fixed + scrolled <= 1280
    for i, (left, width, _) in enumerate(header):
        assert left + width <= (fixed if i < 3 else scrolled), names[i]
    values = dict(zip(names, (text for _, _, text in row)))
    config = file_run.config
    won = file_run.metrics["test_battle_won_mean"]["values"][-1]
    test_return = file_run.metrics["test_return_mean"]["values"][-1]
    steps = max(m["steps"][-1] for m in file_run.metrics.values())
    assert values["Id"] == str(run["_id"])
    assert values["Experiment Name"] == "mappo_sn"
    assert values["Env"] == "smaclite_sparse" and values["Task"] == "2s3z"
    assert values["Seed"] == str(config["seed"]) and values["Critic Sn"] == "mid"
    assert values["Status"] == "COMPLETED"
    assert float(values["Test win rate"]) == pytest.approx(won)
    assert float(values["Test return"]) == pytest.approx(test_return)
    assert values["Env steps"] == str(steps)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", values["Start Time"])
    assert re.search(r"\d", values["Duration"]), values["Duration"]
    # the other columns are hidden, not gone: Show/Hide still offers them
    assert 'value="hostname"' in dom and 'value="c_lr"' in dom  # c_: config keys

    # the run's detail page plots the chosen metrics only
    run_page = chromium(
        f"{b.url}?showDrillDownRunModal=true&runIdToExpand={run['_id']}",
        tmp_path,
        tmp_path / "omniboard_run.png",
    )
    assert (
        f"Details for Run Id: <!-- -->{run['_id']}" in run_page
        or f"Details for Run Id: {run['_id']}" in run_page
    )
    plotted = run_page.split("Metrics Plot", 1)[1]
    legend = set(re.findall(r'data-unformatted="([a-z][a-z_0-9]*)"', plotted))
    # the paper's curves, those of them the run logged
    assert legend == {
        "return_mean",
        "test_return_mean",
        "test_battle_won_mean",
        "critic_grad_norm",
        "critic_sigma_layer1",
        "critic_sigma_layer2",
        "critic_sigma_layer3",
    } & set(file_run.metrics)
    assert len(legend) >= 6

    # Ctrl-C stops Omniboard and the local server
    children = b.children()
    assert len(children) == 2
    assert b.interrupt().strip().endswith("board: stopped") and b.proc.returncode == 130
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_board_restarts_omniboard_when_mongodb_restarts(mongo_server, board):
    mongo_server.db().runs.insert_one(
        {"_id": 1, "status": "COMPLETED", "experiment": {"name": "mappo_sn"}, "config": {}}
    )
    b = board("--mongo", mongo_server.url, "--port", free_port())
    assert b.api("Runs/count") == {"count": 1}
    # down for longer than Omniboard's own 30 s of reconnecting, then back
    mongo_server.kill()
    time.sleep(40)
    mongo_server.start()
    deadline = time.monotonic() + 90
    while True:
        try:
            assert b.api("Runs/count") == {"count": 1}
            break
        except (OSError, ValueError):
            assert time.monotonic() < deadline, "Omniboard did not come back"
            time.sleep(1)
    out = b.interrupt()
    assert re.search(
        r"Omniboard lost its MongoDB connection \(HTTP 500, (pool destroyed|"
        r"no connection available)\); MongoDB answers: restarting Omniboard",
        out,
    ), out


def test_board_without_node_says_so_in_one_line(tmp_path):
    (tmp_path / "sacred").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "epymarl_sn", "board", "--store", str(tmp_path / "sacred")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(Path(sys.executable).parent)},
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "epymarl-sn board: error: Omniboard needs Node.js: node and npm not found on PATH; "
        "install them (Debian/Ubuntu: apt-get install nodejs npm; else https://nodejs.org) "
        "or open your runs with `epymarl-sn runs`"
    )


@pytest.mark.parametrize("problem", ["port", "mongo"])
def test_board_checks_what_it_needs_before_downloading_omniboard(problem, tmp_path):
    cache = tmp_path / "cache"  # no Omniboard there yet: the first board would download it
    (tmp_path / "sacred").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = {
            "port": ["--store", tmp_path / "sacred", "--port", port],
            "mongo": ["--mongo", f"mongodb://127.0.0.1:{free_port()}", "--port", free_port()],
        }[problem]
        proc = subprocess.run(
            [sys.executable, "-m", "epymarl_sn", "board", *map(str, args)],
            capture_output=True,
            text=True,
            env={**os.environ, "EPYMARL_SN_CACHE": str(cache), "SACRED_MONGO_URL": ""},
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert {
        "port": f"port {port} on 127.0.0.1 is taken",
        "mongo": "did not answer within",
    }[problem] in proc.stderr
    assert not (cache / "omniboard").exists() and "installing" not in proc.stdout
