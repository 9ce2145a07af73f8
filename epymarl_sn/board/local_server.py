"""A MongoDB-compatible server on 127.0.0.1 for one user: SecantusDB (`secantusd-py`,
PyPI `secantusdb`, the `[board]` extra), run as a separate program on a storage
directory that survives restarts. `epymarl-sn board` uses it when no MongoDB URL is
given; the tests use it as their real server."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Optional

import pymongo
from pymongo.errors import PyMongoError

from epymarl_sn.errors import BoardError
from epymarl_sn.waiting import Deadline, die_with_parent, retry, stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def storage_holder(storage: Path) -> Optional[int]:
    """The PID of a running local server on `storage` (Linux: from /proc), if any."""
    wanted = str(storage)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        words = [a.decode(errors="replace") for a in args]
        for flag, value in zip(words, words[1:]):
            if flag == "--storage-path" and value == wanted:
                return int(cmdline.parent.name)
    return None


def server_program() -> str:
    """Path of `secantusd-py`: next to this Python first (a venv need not be on PATH)."""
    here = Path(sys.executable).parent / "secantusd-py"
    found = str(here) if here.is_file() else shutil.which("secantusd-py")
    if not found:
        raise BoardError(
            "the local MongoDB server is not installed (secantusd-py not found): "
            'python -m pip install ".[board]" in the plugin\'s checkout, or give a MongoDB URL'
        )
    return found


class LocalServer:
    """`secantusd-py` on 127.0.0.1:`port` with its data in `storage`.

    `start()` returns once the server answers; `stop()` ends it by its own PID
    (SIGTERM, then SIGKILL); `kill()` is a crash (SIGKILL) that keeps the data.
    """

    def __init__(
        self,
        storage: Path,
        port: Optional[int] = None,
        args: Sequence[str] = (),
        log: Optional[Path] = None,
    ) -> None:
        self.storage = Path(storage)
        self.port = port or free_port()
        self.args = list(args)
        self.log = Path(log) if log else self.storage.parent / f"{self.storage.name}.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "LocalServer":
        holder = storage_holder(self.storage)
        if holder is not None:
            # it would refuse the storage anyway, with WiredTiger's `Device or resource busy`
            raise BoardError(
                f"an earlier local MongoDB server (PID {holder}) still holds {self.storage}: "
                f"stop it with `kill {holder}`, then start again"
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [
                    server_program(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--storage-path",
                    str(self.storage),
                    "--standalone",
                    "--sync-on-commit",
                    *self.args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own process group: a Ctrl-C in a terminal goes to `board`, which
                # then stops the server itself, after Omniboard; if `board` dies by any
                # signal, the server goes too
                start_new_session=True,
                preexec_fn=partial(die_with_parent, os.getpid()),
            )
        self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None  # start() starts it before waiting
        proc = self.proc
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            self.url, serverSelectionTimeoutMS=500
        )
        try:
            retry(
                lambda: client.admin.command("ping"),
                Deadline(timeout_s),
                every_s=0.2,
                errors=(PyMongoError,),
                give_up=lambda: proc.poll() is not None,
            )
        except PyMongoError:
            if proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                raise BoardError(
                    f"the local MongoDB server exited with status {proc.returncode} "
                    f"at start ({' '.join(tail) or 'no output'}; log: {self.log})"
                ) from None
            self.stop()
            raise BoardError(
                f"the local MongoDB server did not answer on port {self.port} "
                f"within {timeout_s:g}s (log: {self.log})"
            ) from None
        finally:
            client.close()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout_s)

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone: a new server on the same
        storage must not start while the old one still holds it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
