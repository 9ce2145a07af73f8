"""`epymarl-sn board`: a real tiny mappo_sn run on SMAClite, shown by Omniboard (from
npm) and looked at through its REST API and in headless Chromium."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from epymarl_sn.tracking.local_server import free_port

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
    """Headless Chromium at `url`: the page's DOM, and a screenshot in `out`."""
    profile = tmp_path / "chromium-profile"
    base = [*CHROMIUM, f"--user-data-dir={profile}"]
    subprocess.run(
        [*base, "--window-size=1400,900", f"--screenshot={out}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert out.stat().st_size > 10_000
    return subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout


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
        "map": "env_args.map_name",
        "env": "env_args.key",
        "seed": "seed",
        "critic_sn": "critic_sn",
    }

    # through the page: the runs list, then the run's metrics plot
    runs_page = chromium(b.url, tmp_path, tmp_path / "omniboard_runs.png")
    assert "mappo_sn" in runs_page and "COMPLETED" in runs_page
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
    assert "critic_sigma_layer1" in plotted and "test_battle_won_mean" in plotted
    assert plotted.count('class="trace scatter') >= 2

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
