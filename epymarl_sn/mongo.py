"""MongoDB connection helpers that never reveal the credentials of a URL."""
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri


def hosts(url):
    """'host:port,...' of a MongoDB URL, without user or password."""
    return ",".join(f"{host}:{port}" for host, port in parse_uri(url)["nodelist"])


def ping(url, timeout_s=3.0):
    """None if the server answers, else a one-line reason naming only host:port."""
    try:
        where = hosts(url)
    except (PyMongoError, ValueError) as err:
        return f"SACRED_MONGO_URL is not a valid MongoDB URL ({type(err).__name__})"
    client = MongoClient(url, serverSelectionTimeoutMS=int(timeout_s * 1000))
    try:
        client.admin.command("ping")
    except PyMongoError as err:
        return f"MongoDB at {where} did not answer within {timeout_s:g}s ({type(err).__name__})"
    finally:
        client.close()
    return None
