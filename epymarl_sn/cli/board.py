"""`epymarl-sn board`: Omniboard on 127.0.0.1 for the user's runs."""

import argparse
import os
import signal
from types import FrameType
from typing import NoReturn, Optional

from epymarl_sn.board.local_server import server_program
from epymarl_sn.board.omniboard import open_board, port_free
from epymarl_sn.errors import BoardError, UsageError
from epymarl_sn.install.omniboard import check_space, install_omniboard, node_tools
from epymarl_sn.install.upstreams import cache_dir
from epymarl_sn.tracking import mongo
from epymarl_sn.tracking.mongo import checked_url
from epymarl_sn.tracking.store import FileStore, is_mongo_url


def stop(signum: int, frame: Optional[FrameType]) -> NoReturn:
    raise KeyboardInterrupt


def run_command(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.mongo and not is_mongo_url(args.mongo):
        raise UsageError("--mongo takes a mongodb:// URL (e.g. mongodb://127.0.0.1:27017)")
    if args.mongo:
        checked_url(args.mongo, "--mongo")
    mongo_url = args.mongo
    store = None
    if not mongo_url:
        if args.store is None and os.environ.get("SACRED_MONGO_URL"):
            mongo_url = checked_url(os.environ["SACRED_MONGO_URL"], "SACRED_MONGO_URL")
        else:
            store = FileStore(args.store or os.path.join("results", "sacred")).root
    # everything the board needs, checked before Omniboard's download (531 MB)
    if not port_free(args.port):
        raise BoardError(f"port {args.port} on 127.0.0.1 is taken: choose another with --port")
    node_tools()
    if mongo_url:
        problem = mongo.ping(mongo_url, mongo.db_name())
        if problem:
            raise BoardError(problem)
    else:
        server_program()
    check_space(cache_dir() / "omniboard")
    entry = install_omniboard(cache_dir() / "omniboard", log=lambda m: print(f"board: {m}"))
    signal.signal(signal.SIGTERM, stop)  # `kill PID` stops it all too, as Ctrl-C does
    try:
        open_board(
            entry,
            cache_dir() / "board",
            port=args.port,
            mongo_url=mongo_url,
            db_name=mongo.db_name(),
            store=store,
            say=lambda m: print(m, flush=True),
        )
    except KeyboardInterrupt:
        print("board: stopped", flush=True)
        return 130
    return 0


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser(
        "board",
        help="open Omniboard on 127.0.0.1 for your runs",
        description="Omniboard for your runs, on 127.0.0.1 only. With --mongo (or "
        "$SACRED_MONGO_URL), against that MongoDB (database $SACRED_MONGO_DB, default "
        "epymarl). Otherwise the file-storage runs of --store go to a local "
        'MongoDB-compatible server (python -m pip install ".[board]" in the plugin\'s '
        "checkout). Omniboard comes from npm (Node.js needed), installed once into the "
        "setup cache (531 MB), after every other check passed. The runs table opens on "
        "the preset, env, task, seed, critic_sn, status, last test win rate and return, "
        "env steps, start time and duration. Ctrl-C stops it all.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--store",
        metavar="DIR",
        help="a Sacred file-storage directory (default ./results/sacred "
        "unless $SACRED_MONGO_URL is set)",
    )
    where.add_argument("--mongo", metavar="URL", help="a mongodb:// URL")
    p.add_argument("--port", type=int, default=9000, help="Omniboard's port (default 9000)")
    p.set_defaults(func=run_command)
