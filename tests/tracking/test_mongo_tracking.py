"""Real EPyMARL training runs tracked in MongoDB by the plugin's MongoObserver.

The `src/main.py` subprocess gets mongomock in place of pymongo's client through a
test-only sitecustomize (tests/mongo_fake.py), which writes the databases out at
exit; everything else (EPyMARL, Sacred, its observers, GridFS) is the real thing.
"""
import os
import time

import pytest

import mongo_fake
from epymarl_sn.tracking.observer import TrackingMongoObserver

PASSWORD = "pa55-Wd_7q"
URL = f"mongodb://trainer:{PASSWORD}@db.test:27017/?authSource=admin"
DB = "sn_runs"


@pytest.fixture
def tracked_run(run_main, tmp_path, rware_tiny):
    """Run mappo_paper on RWARE with SACRED_MONGO_URL set; returns (result, databases)."""
    def run(*extra, **env):
        dump = tmp_path / "mongo.json"
        site = mongo_fake.sitecustomize_dir(tmp_path)
        result = run_main("--config=mappo_paper", *rware_tiny, *extra, env={
            "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
            "MONGO_FAKE_DUMP": str(dump),
            "SACRED_MONGO_URL": URL,
            "SACRED_MONGO_DB": DB,
            **env,
        })
        assert result.proc.returncode == 0, result.output[-3000:]
        assert dump.is_file(), "the fake MongoDB was not written out"
        return result, mongo_fake.load(dump)
    return run


def only_run(result, data):
    assert len(result.runs) == 1 and len(data[DB]["runs"]) == 1
    return result.runs[0], data[DB]["runs"][0], {m["name"]: m for m in data[DB]["metrics"]}


def gridfs_file(data, file_id):
    chunks = sorted((c for c in data[DB]["fs.chunks"] if c["files_id"] == file_id),
                    key=lambda c: c["n"])
    return b"".join(bytes(c["data"]) for c in chunks)


def assert_no_password(result, data):
    assert PASSWORD not in result.output
    for path in result.runs[0].path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in str(data)


def test_training_run_is_stored_in_mongodb_like_in_file_storage(tracked_run):
    result, data = tracked_run("save_model=True", "save_model_interval=1000",
                               MONGO_FAKE_BEAT="1")
    file_run, doc, metrics = only_run(result, data)

    assert doc["status"] == "COMPLETED" == file_run.run["status"]
    assert doc["stop_time"] >= doc["start_time"]
    assert doc["config"] == file_run.config
    assert doc["config"]["name"] == "mappo_paper"
    assert doc["host"]["hostname"] == file_run.run["host"]["hostname"]
    assert "Recent Stats" in doc["captured_out"]

    assert {"return_mean", "critic_grad_norm"} <= set(metrics)
    assert set(metrics) == set(file_run.metrics)
    for name, stored in metrics.items():
        assert stored["run_id"] == doc["_id"]
        assert stored["steps"] == file_run.metrics[name]["steps"], name
        assert stored["values"] == file_run.metrics[name]["values"], name
    # Omniboard finds a run's metrics through info.metrics
    assert {m["name"] for m in doc["info"]["metrics"]} == set(metrics)

    # every model file EPyMARL saved, byte for byte, as an artifact of the run
    models = {}
    for path in (file_run.path.parents[3] / "models").rglob("*.th"):
        models[f"models/{path.parent.name}/{path.name}"] = path.read_bytes()
    assert len(models) >= 2 and "models/1000/critic.th" in models
    artifacts = {a["name"]: gridfs_file(data, a["file_id"]) for a in doc["artifacts"]}
    assert artifacts == models

    assert_no_password(result, data)


def test_mongodb_outage_mid_run_loses_no_metric(tracked_run):
    # down at the first metric write, back after 6 failed writes (one a heartbeat,
    # every 0.5 s), before the run ends
    result, data = tracked_run(MONGO_FAKE_BEAT="0.5", MONGO_FAKE_OUTAGE="metrics:6")
    file_run, doc, metrics = only_run(result, data)

    assert len(data["_outage_failed"]) == 6 and "metrics" in data["_outage_failed"]
    assert "cannot write to MongoDB at db.test:27017" in result.proc.stderr
    assert "MongoDB at db.test:27017 is back" in result.proc.stderr
    assert doc["status"] == "COMPLETED"
    assert set(metrics) == set(file_run.metrics)
    for name, stored in metrics.items():
        assert stored["steps"] == file_run.metrics[name]["steps"], name
        assert stored["values"] == file_run.metrics[name]["values"], name
    assert "return_mean" in metrics and "critic_grad_norm" in metrics
    assert_no_password(result, data)


def test_unreachable_mongodb_is_reported_within_seconds():
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        TrackingMongoObserver(url=f"mongodb://trainer:{PASSWORD}@127.0.0.1:9/")
    assert time.monotonic() - started < 10
    assert str(exit_.value.code).startswith("error: MongoDB at 127.0.0.1:9 did not answer")


def test_unreachable_mongodb_stops_the_run_before_training(run_main, rware_tiny):
    result = run_main("--config=mappo_paper", *rware_tiny,
                      env={"SACRED_MONGO_URL": f"mongodb://trainer:{PASSWORD}@127.0.0.1:9/"})

    assert result.proc.returncode == 1
    error = result.proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: MongoDB at 127.0.0.1:9 did not answer within 5s")
    assert "SACRED_MONGO_URL" in error
    assert PASSWORD not in result.output and "pymongo" not in result.output
    assert result.runs == [] and "Beginning training" not in result.output
