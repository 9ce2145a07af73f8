"""Real EPyMARL training runs tracked in a real MongoDB-compatible server by the
plugin's MongoObserver, with real outages: the server is SIGKILLed mid-run."""

import os
import re
import signal
import time

import gridfs
import pytest

from epymarl_sn.tracking.observer import TrackingMongoObserver

from helpers import RWARE_TINY, run_cli

PASSWORD = "pa55-Wd_7q"
DB = "sn_runs"
# mappo_sn (its critic's sigmas are logged) with two envs per batch instead of ten
SMALL_BATCH = ("batch_size_run=2", "buffer_size=2", "batch_size=2")


def only_run(result, db):
    assert len(result.runs) == 1 and db.runs.count_documents({}) == 1
    return result.runs[0], db.runs.find_one()


def assert_same_as_file_storage(file_run, db, doc, status="COMPLETED"):
    """The MongoDB copy equals the file-storage copy, every metric point for point."""
    assert doc["status"] == file_run.run["status"] == status
    assert doc["config"] == file_run.config
    assert doc["captured_out"] == (file_run.path / "cout.txt").read_text()
    metrics = {m["name"]: m for m in db.metrics.find({"run_id": doc["_id"]})}
    assert set(metrics) == set(file_run.metrics)
    for name, stored in metrics.items():
        assert stored["steps"] == file_run.metrics[name]["steps"], name
        assert stored["values"] == file_run.metrics[name]["values"], name
    # Omniboard finds a run's metrics through info.metrics
    assert {m["name"] for m in doc["info"]["metrics"]} == set(metrics)


def assert_no_password(result, db):
    assert PASSWORD not in result.output
    files = [path for path in result.runs[0].path.rglob("*") if path.is_file()]
    assert {"run.json", "config.json", "metrics.json", "cout.txt"} <= {p.name for p in files}
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path
    collections = db.list_collection_names()
    assert {"runs", "metrics"} <= set(collections)
    for name in collections:
        assert PASSWORD not in str(list(db[name].find())), name


def test_training_run_is_stored_in_mongodb_like_in_file_storage(run_main, mongo_server):
    # a real user and password: they reach neither the stored run nor the output
    mongo_server.add_user("trainer", PASSWORD, DB)
    url = mongo_server.auth_url("trainer", PASSWORD)
    result = run_main(
        "--config=mappo_sn",
        *RWARE_TINY,
        *SMALL_BATCH,
        "save_model=True",
        "save_model_interval=1000",
        env={"SACRED_MONGO_URL": url, "SACRED_MONGO_DB": DB},
    )
    assert result.proc.returncode == 0, result.output[-3000:]
    db = mongo_server.client(url)[DB]
    file_run, doc = only_run(result, db)

    assert_same_as_file_storage(file_run, db, doc)
    assert doc["experiment"]["name"] == "mappo_sn"  # the preset, not EPyMARL's "pymarl"
    assert doc["stop_time"] >= doc["start_time"]
    assert doc["host"]["hostname"] == file_run.run["host"]["hostname"]
    assert "Recent Stats" in doc["captured_out"]
    assert {"return_mean", "critic_grad_norm", "critic_sigma_layer1", "test_battle_won_mean"} - set(
        file_run.metrics
    ) == {"test_battle_won_mean"}

    # every model file EPyMARL saved, byte for byte, as an artifact of the run
    models = {}
    for path in (file_run.path.parents[3] / "models").rglob("*.th"):
        models[f"models/{path.parent.name}/{path.name}"] = path.read_bytes()
    assert len(models) >= 8 and sum(n.endswith("/critic.th") for n in models) >= 2
    fs = gridfs.GridFS(db)
    artifacts = {a["name"]: fs.get(a["file_id"]).read() for a in doc["artifacts"]}
    assert artifacts == models

    assert_no_password(result, db)


def metric_points(db):
    return sum(len(m["steps"]) for m in db.metrics.find())


def wait_for_metrics(db, proc, more_than=0, timeout=300):
    """Wait until MongoDB holds more than `more_than` metric points of the run (sent
    with a heartbeat, every 10 s)."""
    deadline = time.monotonic() + timeout
    while metric_points(db) <= more_than:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, (
            f"no more than {more_than} metric points reached MongoDB"
        )
        time.sleep(1)


def test_server_killed_mid_run_and_back_20s_later_loses_nothing(start_main, mongo_server):
    # a t_max no test machine reaches: the outage falls mid-run however fast the
    # machine, and a stop signal ends the run once MongoDB has taken its writes again
    run = start_main(
        "--config=mappo_sn",
        *RWARE_TINY,
        *SMALL_BATCH,
        "t_max=100000000",
        env={"SACRED_MONGO_URL": mongo_server.url, "SACRED_MONGO_DB": DB},
    )
    db = mongo_server.db(DB)
    wait_for_metrics(db, run.proc)
    before = metric_points(db)
    mongo_server.kill()
    time.sleep(20)
    assert run.proc.poll() is None, run.proc.communicate()
    mongo_server.start()
    wait_for_metrics(db, run.proc, more_than=before)
    run.proc.send_signal(signal.SIGTERM)
    result = run.wait()

    assert result.proc.returncode == 128 + signal.SIGTERM, result.output[-3000:]
    where = f"127.0.0.1:{mongo_server.port}"
    assert f"cannot write to MongoDB at {where}" in result.proc.stderr
    assert f"MongoDB at {where} is back" in result.proc.stderr
    assert "epymarl-sn: run INTERRUPTED: stopped by SIGTERM" in result.proc.stderr
    file_run, doc = only_run(result, db)
    assert_same_as_file_storage(file_run, db, doc, status="INTERRUPTED")


def test_server_down_until_the_end_then_push_repairs_the_copy(start_main, mongo_server):
    run = start_main(
        "--config=mappo_sn",
        *RWARE_TINY,
        *SMALL_BATCH,
        "t_max=12000",
        env={
            "SACRED_MONGO_URL": mongo_server.url,
            "SACRED_MONGO_DB": DB,
            "EPYMARL_SN_MONGO_FINAL_WAIT_S": "5",
        },
    )
    wait_for_metrics(mongo_server.db(DB), run.proc)
    mongo_server.kill()
    assert run.proc.poll() is None, "the run ended before the outage: make it longer"
    result = run.wait()

    assert result.proc.returncode == 0, result.output[-3000:]
    warning = next(line for line in result.proc.stderr.splitlines() if "still takes" in line)
    assert re.search(
        r"its copy of run 1 lacks \d+ metric points of \d+ metrics, the final "
        r"status COMPLETED and the output since \d\d:\d\d:\d\d; the "
        r"file-storage copy is complete",
        warning,
    ), warning
    # the process that would push it once MongoDB is back ends with the job, as on a
    # cluster: the copy stays RUNNING until pushed
    finisher = int(re.search(r"Process (\d+) pushes it", warning).group(1))
    _kill(finisher)
    mongo_server.start()
    db = mongo_server.db(DB)
    assert db.runs.find_one()["status"] == "RUNNING"

    store = result.runs[0].path.parents[2]  # results/sacred
    push = run_cli(
        "runs", "push", "--store", store, "--to", mongo_server.url, env={"SACRED_MONGO_DB": DB}
    )
    assert push.returncode == 0, push.stderr
    assert "0 runs added, 1 completed, 0 already there" in push.stdout
    file_run, doc = only_run(result, db)
    assert_same_as_file_storage(file_run, db, doc)

    again = run_cli(
        "runs", "push", "--store", store, "--to", mongo_server.url, env={"SACRED_MONGO_DB": DB}
    )
    assert "0 runs added, 0 completed, 1 already there" in again.stdout
    assert db.runs.count_documents({}) == 1


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_unreachable_mongodb_is_reported_within_seconds():
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        TrackingMongoObserver(url=f"mongodb://trainer:{PASSWORD}@127.0.0.1:9/")
    assert time.monotonic() - started < 10
    assert str(exit_.value.code).startswith("error: MongoDB at 127.0.0.1:9 did not answer")


def test_server_down_at_start_stops_the_run_before_training(run_main, mongo_server):
    mongo_server.kill()
    result = run_main(
        "--config=mappo_paper",
        *RWARE_TINY,
        env={"SACRED_MONGO_URL": f"mongodb://trainer:{PASSWORD}@127.0.0.1:{mongo_server.port}/"},
    )

    assert result.proc.returncode == 1
    error = result.proc.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"error: MongoDB at 127.0.0.1:{mongo_server.port} did not answer within 5s"
    )
    assert "Start MongoDB" in error and "SACRED_MONGO_URL" in error
    assert PASSWORD not in result.output and "pymongo" not in result.output
    assert result.runs == [] and "Beginning training" not in result.output


def test_wrong_password_stops_the_run_saying_the_server_refused_it(run_main, mongo_server):
    mongo_server.add_user("trainer", PASSWORD, DB)
    result = run_main(
        "--config=mappo_paper",
        *RWARE_TINY,
        env={
            "SACRED_MONGO_URL": mongo_server.auth_url("trainer", "wrong-" + PASSWORD),
            "SACRED_MONGO_DB": DB,
        },
    )

    assert result.proc.returncode == 1
    error = result.proc.stderr.strip().splitlines()[-1]
    assert error == (
        f"error: MongoDB at 127.0.0.1:{mongo_server.port} refused the credentials "
        "in SACRED_MONGO_URL (AuthenticationFailed): check the user, the "
        "password and authSource"
    )
    assert PASSWORD not in result.output
    assert result.runs == [] and "Beginning training" not in result.output
