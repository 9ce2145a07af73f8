"""`epymarl-sn resume RUN`: a stopped run goes on from its newest checkpoint, in the
same Sacred run (file storage and MongoDB), with the numbers it would have had."""

import argparse
import json
import os
import time
from pathlib import Path
from typing import Optional

from epymarl_sn.checkpoint.files import NAME
from epymarl_sn.checkpoint.resume import exec_resume, resume_of
from epymarl_sn.cli.options import add_store_option
from epymarl_sn.console import say
from epymarl_sn.errors import CheckpointError, UsageError
from epymarl_sn.tracking.store import (
    RESULTS_DIR,
    FileStore,
    MongoStore,
    Run,
    age_text,
    default_location,
    is_mongo_url,
    open_store,
)


def _mongo_run_dir(store: MongoStore, run: Run) -> Path:
    """The file-storage directory of a MongoDB run: the local run whose checkpoint
    names it (the checkpoint is in the file storage of the machine that ran it)."""
    for meta in sorted(Path(RESULTS_DIR).glob(f"**/{NAME}*/meta.json")):
        try:
            ids = json.loads(meta.read_text())["stores"].get("mongo") or {}
        except (OSError, ValueError, KeyError):
            continue
        if ids.get("id") == run.id and ids.get("db") == store.db_name:
            return meta.parent.parent.resolve()
    raise CheckpointError(
        f"run {run.id} of {store} has no checkpoint in {Path(RESULTS_DIR).resolve()}; "
        "resume it from the EPyMARL checkout of the machine that ran it"
    )


def _refuse_status(run: Run) -> None:
    if run.status == "COMPLETED":
        raise CheckpointError(f"run {run.id} is COMPLETED: there is nothing to resume")
    if run.status in ("RUNNING", "QUEUED") and run.stale_s() is None:
        raise CheckpointError(
            f"run {run.id} is {run.status}, with a heartbeat in the last minute: a process "
            "is still writing it; stop it first (it checkpoints on SIGTERM)"
        )


def resume_command(args: argparse.Namespace) -> int:
    location = args.store or default_location()
    store = open_store(location)
    run = store.run(args.run)
    _refuse_status(run)
    if isinstance(store, FileStore):
        run_dir = (store.root / str(run.id)).resolve()
    else:
        assert isinstance(store, MongoStore)  # open_store's two kinds
        run_dir = _mongo_run_dir(store, run)
    resume = resume_of(run_dir, say, args.t_max)
    if resume is None:
        raise CheckpointError(
            f"run {run.id} has no checkpoint in {run_dir} (a run with checkpoint_interval=0, "
            "or stopped before its first); run it again from the start"
        )
    mongo = resume.checkpoint.meta["stores"].get("mongo")
    url: Optional[str] = str(location) if is_mongo_url(location) else None
    url = url or os.environ.get("SACRED_MONGO_URL")
    if mongo is not None and url is None:
        raise UsageError(
            f"run {run.id} is also run {mongo['id']} of MongoDB database {mongo['db']}: set "
            "SACRED_MONGO_URL (or give --store URL) so that its copy there goes on too"
        )
    if url is not None:
        resume.env["SACRED_MONGO_URL"] = url
    say(
        f"resuming run {run.id} ({run.status}) from {resume.checkpoint.path} at t_env "
        f"{resume.checkpoint.t_env}, written {_age(resume.checkpoint.meta['written'])} ago"
    )
    exec_resume(resume)
    return 0  # not reached: the run's process took this one's place


def _age(written: float) -> str:
    return age_text(max(0.0, time.time() - written))


def _t_max(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser(
        "resume",
        help="go on with a stopped run from its newest checkpoint, in the same run",
        description="Start a stopped run (INTERRUPTED, FAILED, or RUNNING with no "
        "process left) again from its newest checkpoint, in the EPyMARL checkout it "
        "ran in: the same Sacred run (same id in file storage and MongoDB), status "
        "RUNNING, its metrics cut back to the checkpoint's and going on with the numbers "
        "the run would have had without the stop. Its config must be the checkpoint's.",
    )
    p.add_argument("run", metavar="RUN", help="the run's id, as `epymarl-sn runs` lists it")
    add_store_option(p)
    p.add_argument(
        "--t-max",
        type=_t_max,
        metavar="N",
        help="train until t_env N instead of the checkpoint's t_max (the only key that may change)",
    )
    p.set_defaults(func=resume_command)
