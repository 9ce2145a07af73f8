"""A real MongoDB-compatible server for the tracking tests: SecantusDB (`secantusd-py`,
a MongoDB wire-protocol server on WiredTiger) on a free 127.0.0.1 port with its data
in the test's tmp dir, stopped by its own PID when the test ends."""

import pymongo
import pytest

from epymarl_sn.board.local_server import LocalServer


class MongoServer(LocalServer):
    """A LocalServer that tests crash and bring back on the same storage."""

    def client(self, url=None):
        return pymongo.MongoClient(url or self.url, serverSelectionTimeoutMS=5000)

    def db(self, name="epymarl"):
        return self.client()[name]

    def restart(self):
        """SIGKILL (a crash, no clean shutdown), then a new server on the same data."""
        self.kill()
        self.start()

    def add_user(self, user, password, db_name="epymarl"):
        """A user who may read and write `db_name` only; then restart with --auth."""
        self.client().admin.command(
            "createUser", user, pwd=password, roles=[{"role": "readWrite", "db": db_name}]
        )
        self.stop()
        self.args.append("--auth")
        self.start()

    def auth_url(self, user, password):
        return f"mongodb://{user}:{password}@127.0.0.1:{self.port}/?authSource=admin"


@pytest.fixture
def mongo_server(tmp_path):
    """A fresh real server; `.url`, `.db()`, `.kill()`, `.start()`, `.restart()`."""
    server = MongoServer(tmp_path / "mongo-data", args=["--enable-test-commands"])
    server.start()
    yield server
    server.stop()
