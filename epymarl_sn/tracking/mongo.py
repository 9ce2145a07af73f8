"""MongoDB connection helpers that never reveal the credentials of a URL."""

import os
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

import pymongo
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from epymarl_sn.errors import StoreError

DB_ENV = "SACRED_MONGO_DB"
# characters MongoDB refuses in a database name (on any platform)
_DB_FORBIDDEN = set('/\\. "$*<>:|?\0')


def db_name(env: Optional[Mapping[str, str]] = None) -> str:
    """The database of the runs: $SACRED_MONGO_DB, default `epymarl`; StoreError in
    one line naming the variable if MongoDB would refuse the name."""
    name = (os.environ if env is None else env).get(DB_ENV, "epymarl")
    if not name or len(name.encode()) >= 64 or _DB_FORBIDDEN & set(name):
        raise StoreError(
            f"{DB_ENV}={name!r} is not a MongoDB database name (1 to 63 bytes, none of "
            '/\\. "$*<>:|?); e.g. SACRED_MONGO_DB=epymarl, or unset it'
        )
    return name


def hosts(url: str) -> str:
    """'host:port,...' of a MongoDB URL, without user or password."""
    return ",".join(f"{host}:{port}" for host, port in parse_uri(url)["nodelist"])


def checked_url(url: str, source: str) -> str:
    """`url` if pymongo can parse it, else StoreError naming `source` (the option or
    variable that gave it) in one line; the URL itself is never shown (credentials)."""
    try:
        hosts(url)
    except (PyMongoError, ValueError) as err:
        raise StoreError(
            f"{source} is not a valid MongoDB URL ({type(err).__name__}); "
            "expected mongodb://[user:password@]host[:port]"
        ) from None
    return url


def connect(url: str, timeout_s: float = 5.0) -> "pymongo.MongoClient[dict[str, Any]]":
    """A client that gives up on an unreachable server after `timeout_s`.

    pymongo's default is 30 s per operation and no limit on a stalled socket;
    a training run should neither wait that long at start nor hang on a dead server.
    """
    return pymongo.MongoClient(
        url,
        serverSelectionTimeoutMS=int(timeout_s * 1000),
        connectTimeoutMS=int(timeout_s * 1000),
        socketTimeoutMS=60_000,
    )


class AccessProblem(NamedTuple):
    message: str
    refused: bool  # the server answered and refused us (credentials, rights)


# codes of a server that answered but will not let this user read
REFUSALS = {"AuthenticationFailed", "Unauthorized"}


def check_access(
    client: "pymongo.MongoClient[dict[str, Any]]",
    where: str,
    db_name: str,
    timeout_s: float,
    source: str = "SACRED_MONGO_URL",
) -> Optional[AccessProblem]:
    """None if the database can be read, else a one-line reason naming only host:port
    and `source`, where the URL came from.

    A read rather than a `ping`: ping needs no login, so it would pass with wrong
    credentials and the run would fail later, at its first write.
    """
    try:
        client[db_name].runs.find_one({}, {"_id": 1})
    except OperationFailure as err:
        reason = (err.details or {}).get("codeName", "OperationFailure")
        if reason == "AuthenticationFailed":
            return AccessProblem(
                f"MongoDB at {where} refused the credentials in {source} ({reason}): "
                "check the user, the password and authSource",
                refused=True,
            )
        return AccessProblem(
            f"MongoDB at {where} refused to let us read database '{db_name}' ({reason}): "
            f"check the user's rights, or the user and password in {source}",
            refused=reason in REFUSALS,
        )
    except PyMongoError as err:
        return AccessProblem(
            f"MongoDB at {where} did not answer within {timeout_s:g}s ({type(err).__name__})",
            refused=False,
        )
    return None


def ping(url: str, db_name: str = "epymarl", timeout_s: float = 3.0) -> Optional[str]:
    """None if the server answers and lets us read `db_name`, else a one-line reason."""
    try:
        where = hosts(url)
        client = connect(url, timeout_s)
    except (PyMongoError, ValueError) as err:
        return f"SACRED_MONGO_URL is not a valid MongoDB URL ({type(err).__name__})"
    try:
        problem = check_access(client, where, db_name, timeout_s)
        return problem.message if problem else None
    finally:
        client.close()
