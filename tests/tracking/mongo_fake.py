"""A MongoDB for tests: mongomock behind `pymongo.MongoClient`, with outages on cue.

In-process: `install(monkeypatch)` then use pymongo (and Sacred's MongoObserver) as
usual; every client shares one in-memory server, whatever its URL, emptied by
each install.

In a `src/main.py` subprocess: `sitecustomize_dir(tmp)` writes a sitecustomize
that calls `install_from_env()`, driven by
- MONGO_FAKE_DUMP: file the databases are written to (extended JSON) at exit;
- MONGO_FAKE_OUTAGE: `COLLECTION:COUNT`, the server goes down at the first
  operation on COLLECTION and is back after COUNT failed operations;
- MONGO_FAKE_BEAT: Sacred's heartbeat interval in seconds (more heartbeats in a
  short run).
"""
import atexit
import os
from pathlib import Path

import mongomock
import mongomock.gridfs
import pymongo
from bson import json_util
from mongomock.collection import Collection
from mongomock.database import Database
from pymongo.errors import ServerSelectionTimeoutError

SERVER = mongomock.store.ServerStore()
HERE = Path(__file__).resolve().parent

# every operation Sacred's MongoObserver, GridFS and the run store use
OPERATIONS = {
    Collection: ("insert_one", "insert_many", "update_one", "update_many", "replace_one",
                 "find", "find_one", "count_documents", "delete_one", "delete_many",
                 "create_index", "find_one_and_update"),
    Database: ("command", "list_collection_names"),
}


class FakeMongoClient(mongomock.MongoClient):
    def __init__(self, host=None, *args, **kwargs):
        super().__init__(host, *args, _store=SERVER, **kwargs)


class Outage:
    """Down from the first operation on `trigger` for `length` operations."""

    def __init__(self):
        self.trigger = None
        self.length = 0
        self.failed = []  # the collection or database of each failed operation

    def check(self, where):
        if self.trigger is not None and where == self.trigger:
            self.trigger = None  # down from now on
        elif self.trigger is not None or len(self.failed) >= self.length:
            return
        self.failed.append(where)
        raise ServerSelectionTimeoutError("db.test:27017: [Errno 111] Connection refused")


OUTAGE = Outage()


def _guarded(method):
    def guarded(self, *args, **kwargs):
        OUTAGE.check(self.name)
        return method(self, *args, **kwargs)
    return guarded


def install(monkeypatch=None):
    """Fake MongoDB from now on; with pytest's `monkeypatch`, until the test ends."""
    global SERVER
    SERVER = mongomock.store.ServerStore()
    setattr_ = monkeypatch.setattr if monkeypatch else setattr
    setattr_(pymongo, "MongoClient", FakeMongoClient)
    # lets gridfs (Sacred's artifacts and sources) work on mongomock databases
    mongomock.gridfs.enable_gridfs_integration()
    for cls, names in OPERATIONS.items():
        for name in names:
            setattr_(cls, name, _guarded(getattr(cls, name)))


def dump(path):
    client = FakeMongoClient()
    data = {db: {coll: list(client[db][coll].find()) for coll in client[db].list_collection_names()}
            for db in client.list_database_names()}
    data["_outage_failed"] = OUTAGE.failed
    Path(path).write_text(json_util.dumps(data))


def load(path):
    return json_util.loads(Path(path).read_text())


def install_from_env():
    if "MONGO_FAKE_DUMP" not in os.environ:
        return
    install()
    if os.environ.get("MONGO_FAKE_OUTAGE"):
        trigger, length = os.environ["MONGO_FAKE_OUTAGE"].split(":")
        OUTAGE.trigger, OUTAGE.length = trigger, int(length)
    if os.environ.get("MONGO_FAKE_BEAT"):
        from sacred import SETTINGS
        SETTINGS.DEFAULT_BEAT_INTERVAL = float(os.environ["MONGO_FAKE_BEAT"])
    atexit.register(_dump_unguarded, os.environ["MONGO_FAKE_DUMP"])


def _dump_unguarded(path):
    OUTAGE.trigger, OUTAGE.length = None, 0  # the dump reads, even if still down
    dump(path)


def sitecustomize_dir(tmp):
    """A directory to put first on PYTHONPATH of a subprocess to fake MongoDB in it."""
    site = Path(tmp) / "fake_mongo_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
        "import mongo_fake\nmongo_fake.install_from_env()\n")
    return site
