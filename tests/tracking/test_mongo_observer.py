"""The plugin's MongoObserver in small Sacred experiments, on mongomock (fast cases;
tests/test_mongo_tracking.py runs it in real EPyMARL training)."""
import json
import time

import pymongo
import pytest
from sacred import SETTINGS, Experiment
from sacred.observers import FileStorageObserver, MongoObserver

import mongo_fake
from epymarl_sn.tracking import mongo
from epymarl_sn.tracking.observer import TrackingMongoObserver

PASSWORD = "s3cr3t-Pw"
URL = f"mongodb://trainer:{PASSWORD}@db.test:27017"
STEPS = 60


@pytest.fixture(autouse=True)
def fake_mongo(monkeypatch):
    mongo_fake.install(monkeypatch)
    monkeypatch.setattr(mongo_fake, "OUTAGE", mongo_fake.Outage())
    monkeypatch.setattr(SETTINGS, "DEFAULT_BEAT_INTERVAL", 0.05)


def run_experiment(file_dir, observer):
    ex = Experiment("pymarl")
    ex.add_config(name="tiny", seed=1, env_args={"key": "k"})

    @ex.main
    def train(_run):
        for step in range(STEPS):
            _run.log_scalar("return_mean", step * 0.5, step)
            time.sleep(0.01)  # spread over heartbeats, so some fall in the outage

    ex.observers.append(FileStorageObserver(str(file_dir)))
    ex.observers.append(observer)
    return ex.run()


def stored_values(run_id):
    metric = pymongo.MongoClient()["epymarl"]["metrics"].find_one(
        {"run_id": run_id, "name": "return_mean"})
    return metric["values"] if metric else []


def expected_values():
    return [step * 0.5 for step in range(STEPS)]


def test_outage_mid_run_buffers_metrics_until_mongodb_is_back(tmp_path, capsys):
    mongo_fake.OUTAGE.trigger, mongo_fake.OUTAGE.length = "metrics", 8
    observer = TrackingMongoObserver(url=URL, db_name="epymarl")
    run_experiment(tmp_path, observer)

    assert len(mongo_fake.OUTAGE.failed) == 8
    assert stored_values(observer.run_entry["_id"]) == expected_values()
    doc = pymongo.MongoClient()["epymarl"]["runs"].find_one()
    assert doc["status"] == "COMPLETED"
    err = capsys.readouterr().err
    assert "cannot write to MongoDB at db.test:27017 (ServerSelectionTimeoutError)" in err
    assert "MongoDB at db.test:27017 is back" in err


def test_sacred_own_observer_loses_metrics_in_the_same_outage(tmp_path):
    # the control for the test above: the outage is real enough to lose data
    mongo_fake.OUTAGE.trigger, mongo_fake.OUTAGE.length = "metrics", 8
    run_experiment(tmp_path, MongoObserver(url=URL, db_name="epymarl"))
    assert stored_values(1) != expected_values()


def test_still_down_at_the_end_says_what_mongodb_lacks(tmp_path, capsys):
    mongo_fake.OUTAGE.trigger, mongo_fake.OUTAGE.length = "metrics", 10**6
    observer = TrackingMongoObserver(url=URL, db_name="epymarl")
    observer.final_wait_s, observer.retry_interval_s = 0.3, 0.1
    run_experiment(tmp_path, observer)

    err = capsys.readouterr().err
    assert (f"MongoDB at db.test:27017 still takes no writes after 0.3s more: its copy of "
            f"run 1 misses {STEPS} metric points and the final status") in err
    assert PASSWORD not in err
    metrics = json.loads(next(tmp_path.rglob("metrics.json")).read_text())
    assert metrics["return_mean"]["values"] == expected_values()


def test_mongodb_ids_do_not_collide_with_older_file_storage_runs(tmp_path):
    # older runs without MongoDB: directories 1 and 2; the fresh database starts at 1
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    observer = TrackingMongoObserver(url=URL, db_name="epymarl")
    run = run_experiment(tmp_path, observer)

    assert run.status == "COMPLETED"
    assert (tmp_path / "3" / "run.json").is_file()
    assert observer.run_entry["_id"] == 1
    assert stored_values(1) == expected_values()


@pytest.mark.parametrize("url", [f"mongodb://trainer:{PASSWORD}@db.test:port",
                                 f"http://trainer:{PASSWORD}@db.test"])
def test_invalid_url_is_one_line_without_credentials(url):
    with pytest.raises(SystemExit) as exit_:
        TrackingMongoObserver(url=url, db_name="epymarl")
    message = str(exit_.value.code)
    assert message.startswith("error: SACRED_MONGO_URL is not a valid MongoDB URL")
    assert PASSWORD not in message and "\n" not in message


def test_ping_for_doctor_names_host_and_port_only():
    assert mongo.ping(URL) is None
    mongo_fake.OUTAGE.trigger, mongo_fake.OUTAGE.length = "runs", 1
    problem = mongo.ping(URL)
    assert problem == ("MongoDB at db.test:27017 did not answer within 3s "
                       "(ServerSelectionTimeoutError)")
    assert mongo.ping(f"mongodb://trainer:{PASSWORD}@db.test:port").startswith(
        "SACRED_MONGO_URL is not a valid MongoDB URL")
