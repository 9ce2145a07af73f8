"""Real servers for the cluster tests, on 127.0.0.1, started on free ports and
stopped by their own PIDs: a MongoDB (SecantusDB, a MongoDB wire-protocol server)
and a Ray cluster of two nodes, each its own `ray start` with one CPU, its own temp
dir and its own EPyMARL checkout (EPYMARL_SN_CHECKOUT), joined with token auth."""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from epymarl_sn.board.local_server import LocalServer, free_port

from helpers import copy_checkout, processes, wait_until

BIN = Path(sys.executable).parent


def in_session(sid):
    return [pid for pid, (s, _, _) in processes().items() if s == sid]


def kill_session(proc, grace_s):
    """Stop a process started in a session of its own, then SIGKILL by PID whatever
    of its session is left (Ray's workers have process groups of their own)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    for pid in in_session(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory):
    """A real MongoDB server (SecantusDB) on 127.0.0.1 for this session."""
    server = LocalServer(tmp_path_factory.mktemp("mongo") / "data")
    server.start()
    yield server.url
    server.stop()


@dataclass
class Node:
    proc: subprocess.Popen  # `ray start --block`, leader of its own session
    checkout: Path
    raylet_pid: int = 0
    node_id: str = ""

    def raylet(self):
        """-> (pid, Ray node id) of this node's raylet, or None."""
        for pid, (sid, comm, _) in processes().items():
            if sid == self.proc.pid and comm == "raylet":
                try:
                    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                for arg in args:
                    if arg.startswith(b"--node_id="):
                        return pid, arg.split(b"=", 1)[1].decode()
        return None


@dataclass
class RayCluster:
    address: str
    env: dict  # what a driver (or another node) needs: token auth
    head: Node
    worker: Node
    join: Callable[[str], Node]  # join(name) -> a new worker node with its own checkout

    @property
    def nodes(self):
        """{Ray node id: Node}"""
        return {self.head.node_id: self.head, self.worker.node_id: self.worker}


def start_node(args, env, checkout, temp_dir, log):
    temp_dir.mkdir(parents=True)
    node = Node(
        subprocess.Popen(
            [
                BIN / "ray",
                "start",
                "--block",
                "--num-cpus",
                "1",
                "--temp-dir",
                str(temp_dir),
                "--dashboard-agent-listen-port",
                str(free_port()),
                "--disable-usage-stats",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**env, "EPYMARL_SN_CHECKOUT": str(checkout)},
        ),
        checkout,
    )

    def raylet():
        assert node.proc.poll() is None, f"`ray start` in {temp_dir} exited: see {log.name}"
        return node.raylet()

    # the node id tells apart two nodes of one host
    node.raylet_pid, node.node_id = wait_until(raylet, 120, f"the raylet in {temp_dir}")
    return node


# waits until the cluster at argv[1] has the nodes argv[2:] alive (a raylet is up
# before it has joined)
ALIVE = """
import sys, time, ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + 60
while {n["NodeID"] for n in ray.nodes() if n["Alive"]} != set(sys.argv[2:]):
    assert time.monotonic() < deadline, ray.nodes()
    time.sleep(0.5)
"""


def wait_alive(address, env, node_ids):
    """Until the cluster's own view, asked by a driver as the sweep's, has exactly
    these nodes alive."""
    alive = subprocess.run(
        [sys.executable, "-c", ALIVE, address, *node_ids],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert alive.returncode == 0, alive.stdout + alive.stderr


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, epymarl_dir):
    """Two Ray nodes on this machine, as a cluster of two machines is started by
    hand: `ray start --head` and `ray start --address`, one CPU each, with
    RAY_AUTH_MODE=token and one shared token. Each node has its own checkout, named
    to it by EPYMARL_SN_CHECKOUT in the environment of its `ray start`. A test that
    loses a node joins a new one with `cluster.join(name)`."""
    root = Path(tmp_path_factory.mktemp("ray"))
    # the nodes' temp dirs: Ray's socket paths under them must fit in 107 bytes, and
    # pytest's own (longer under `pytest -n`, .../popen-gw0/...) can be too long
    nodes_dir = Path(tempfile.mkdtemp(prefix="ray-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {k: v for k, v in env.items() if not k.startswith("SACRED_MONGO")}
    started = []
    log = open(root / "ray.log", "wb")  # noqa: SIM115 (the nodes write it until teardown)
    try:
        head = start_node(
            [
                "--head",
                "--port",
                str(port),
                "--include-dashboard",
                "false",
                "--dashboard-port",
                str(free_port()),
                "--ray-client-server-port",
                str(free_port()),
            ],
            env,
            copy_checkout(epymarl_dir, root / "head_checkout"),
            nodes_dir / "h",
            log,
        )
        started.append(head)

        def join(name):
            node = start_node(
                ["--address", address],
                env,
                copy_checkout(epymarl_dir, root / f"{name}_checkout"),
                nodes_dir / name,
                log,
            )
            started.append(node)
            alive = [n.node_id for n in started if n.proc.poll() is None and n.raylet()]
            wait_alive(address, env, alive)
            return node

        cluster = RayCluster(
            address,
            {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": env["RAY_AUTH_TOKEN"]},
            head,
            join("w"),
            join,
        )
        yield cluster
    finally:
        for node in reversed(started):
            kill_session(node.proc, 20)
        log.close()
        shutil.rmtree(nodes_dir, ignore_errors=True)
        for node in started:
            assert in_session(node.proc.pid) == [], "a Ray process outlived its node"
