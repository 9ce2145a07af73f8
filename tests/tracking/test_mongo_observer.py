"""The plugin's MongoObserver in small Sacred experiments against a real server (fast
cases; test_mongo_tracking.py runs it in real EPyMARL training). Outages are real:
the server is SIGKILLed and restarted on the same storage."""

import json
import re
import time

import pymongo
import pytest
from sacred import SETTINGS, Experiment
from sacred.observers import MongoObserver

from epymarl_sn.tracking import mongo
from epymarl_sn.tracking.files import DurableFileStorageObserver
from epymarl_sn.tracking.observer import TrackingMongoObserver

from helpers import alive

PASSWORD = "s3cr3t-Pw"
STEPS = 60


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch):
    monkeypatch.setattr(SETTINGS, "DEFAULT_BEAT_INTERVAL", 0.05)


def run_experiment(file_dir, observer, during=None):
    """A Sacred run logging STEPS points; `during(step)` is called at every step."""
    ex = Experiment("pymarl")
    ex.add_config(name="tiny", seed=1, env_args={"key": "k"})

    @ex.main
    def train(_run):
        for step in range(STEPS):
            if during:
                during(step)
            _run.log_scalar("return_mean", step * 0.5, step)
            time.sleep(0.01)  # spread over heartbeats

    # the plugin's FileStorageObserver, which main.py builds: the MongoObserver finds
    # the run's files through it
    ex.observers.append(DurableFileStorageObserver(str(file_dir)))
    ex.observers.append(observer)
    return ex.run()


def stored_values(server, run_id):
    metric = server.db().metrics.find_one({"run_id": run_id, "name": "return_mean"})
    return metric["values"] if metric else []


def expected_values():
    return [step * 0.5 for step in range(STEPS)]


def crash_and_restart(server, at=20):
    """During the run: SIGKILL the server at step `at`, back 10 steps later, after a
    longer outage than the 5 s within which pymongo retries an operation by itself."""

    def during(step):
        if step == at:
            server.kill()
        elif step == at + 1:
            time.sleep(7)
        elif step == at + 10:
            server.start()

    return during


def test_outage_mid_run_buffers_metrics_until_mongodb_is_back(mongo_server, tmp_path, capsys):
    observer = TrackingMongoObserver(url=mongo_server.url, db_name="epymarl")
    run_experiment(tmp_path, observer, crash_and_restart(mongo_server))

    assert stored_values(mongo_server, observer.run_entry["_id"]) == expected_values()
    doc = mongo_server.db().runs.find_one()
    assert doc["status"] == "COMPLETED"
    # named by the config's name, not the Sacred experiment's
    assert doc["experiment"]["name"] == "tiny"
    err = capsys.readouterr().err
    where = f"127.0.0.1:{mongo_server.port}"
    # pymongo names the failure by timing: AutoReconnect on a connection open when the
    # server died, ServerSelectionTimeoutError when none could be opened
    failed = rf"cannot write to MongoDB at {re.escape(where)} "
    failed += r"\((ServerSelectionTimeoutError|AutoReconnect)\)"
    assert re.search(failed, err), err
    assert f"MongoDB at {where} is back" in err


def test_sacred_own_observer_loses_metrics_in_the_same_outage(mongo_server, tmp_path):
    # the control for the test above, with the same client time-outs: the outage is
    # real enough to lose data
    observer = MongoObserver(client=mongo.connect(mongo_server.url), db_name="epymarl")
    run_experiment(tmp_path, observer, crash_and_restart(mongo_server))
    assert stored_values(mongo_server, 1) != expected_values()


def test_still_down_at_the_end_says_what_mongodb_lacks_then_pushes_it(
    mongo_server, tmp_path, capsys
):
    observer = TrackingMongoObserver(url=mongo_server.url, db_name="epymarl")
    observer.final_wait_s, observer.retry_interval_s = 0.3, 0.1
    run_experiment(tmp_path, observer, lambda step: step == 30 and mongo_server.kill())

    err = capsys.readouterr().err
    where = f"127.0.0.1:{mongo_server.port}"
    assert (
        f"MongoDB at {where} still takes no writes 0.3s after the run ended: its copy "
        "of run 1 lacks "
    ) in err
    assert "metric points of 1 metrics, the final status COMPLETED and the output since" in err
    metrics = json.loads((tmp_path / "1" / "metrics.json").read_text())
    assert metrics["return_mean"]["values"] == expected_values()

    # the background push of the file-storage copy, once the server is back
    pid = int(err.split("Process ")[1].split()[0])
    mongo_server.start()
    deadline = time.monotonic() + 60
    while mongo_server.db().runs.find_one({"status": "COMPLETED"}) is None:
        assert time.monotonic() < deadline, (tmp_path / "1" / "mongo_push.log").read_text()
        time.sleep(0.5)
    assert stored_values(mongo_server, 1) == expected_values()
    assert f": completed in MongoDB at {where}" in (tmp_path / "1" / "mongo_push.log").read_text()
    # the process exits once it has pushed
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_mongodb_ids_do_not_collide_with_older_file_storage_runs(mongo_server, tmp_path):
    # older runs without MongoDB: directories 1 and 2; the fresh database starts at 1
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    observer = TrackingMongoObserver(url=mongo_server.url, db_name="epymarl")
    run = run_experiment(tmp_path, observer)

    assert run.status == "COMPLETED"
    assert (tmp_path / "3" / "run.json").is_file()
    assert observer.run_entry["_id"] == 1
    assert stored_values(mongo_server, 1) == expected_values()


@pytest.mark.parametrize(
    "url", [f"mongodb://trainer:{PASSWORD}@db.test:port", f"http://trainer:{PASSWORD}@db.test"]
)
def test_invalid_url_is_one_line_without_credentials(url):
    with pytest.raises(SystemExit) as exit_:
        TrackingMongoObserver(url=url, db_name="epymarl")
    message = str(exit_.value.code)
    assert message.startswith("error: SACRED_MONGO_URL is not a valid MongoDB URL")
    assert PASSWORD not in message and "\n" not in message


def test_ping_for_doctor_names_host_and_port_only(mongo_server):
    assert mongo.ping(mongo_server.url) is None
    mongo_server.kill()
    problem = mongo.ping(f"mongodb://trainer:{PASSWORD}@127.0.0.1:{mongo_server.port}")
    assert problem == (
        f"MongoDB at 127.0.0.1:{mongo_server.port} did not answer within 3s "
        "(ServerSelectionTimeoutError)"
    )
    assert mongo.ping(f"mongodb://trainer:{PASSWORD}@db.test:port").startswith(
        "SACRED_MONGO_URL is not a valid MongoDB URL"
    )


def test_wrong_password_says_the_server_refused_the_credentials(mongo_server):
    mongo_server.add_user("trainer", PASSWORD)
    with pytest.raises(SystemExit) as exit_:
        TrackingMongoObserver(url=mongo_server.auth_url("trainer", "not-" + PASSWORD))
    message = str(exit_.value.code)
    assert message == (
        f"error: MongoDB at 127.0.0.1:{mongo_server.port} refused the "
        "credentials in SACRED_MONGO_URL (AuthenticationFailed): check the "
        "user, the password and authSource"
    )
    # the right password gets in, and only to its own database
    client = pymongo.MongoClient(mongo_server.auth_url("trainer", PASSWORD))
    assert mongo.check_access(client, "here", "epymarl", 5) is None
    assert mongo.check_access(client, "here", "other", 5).refused
