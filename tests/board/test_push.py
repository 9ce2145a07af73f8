"""`epymarl-sn runs push`: file-storage runs uploaded to a real server, once."""

import gridfs
import pytest
from sacred import SETTINGS, Experiment
from sacred.observers import FileStorageObserver

from epymarl_sn.cli import main
from epymarl_sn.tracking.observer import TrackingMongoObserver
from epymarl_sn.tracking.store import open_store

SEEDS = [1, 2, 3]


def make_run(file_dir, seed, mongo_url=None, fail=False):
    """A Sacred run like EPyMARL's: metrics, output, an artifact; FAILED if `fail`."""
    ex = Experiment("pymarl")
    ex.add_config(name="mappo_sn", seed=seed, critic_sn="mid", env_args={"key": "rware-tiny"})

    @ex.main
    def train(_run, seed):
        print(f"training seed {seed}")
        for step in range(5):
            _run.log_scalar("critic_sigma_layer1", seed + step / 10, step * 100)
            _run.log_scalar("test_battle_won_mean", step / 4, step * 100)
        (file_dir.parent / f"notes{seed}.txt").write_text(f"notes of seed {seed}")
        _run.add_artifact(str(file_dir.parent / f"notes{seed}.txt"), "notes.txt")
        if fail:
            raise RuntimeError("diverged")

    ex.observers.append(FileStorageObserver(str(file_dir)))
    if mongo_url:
        ex.observers.append(TrackingMongoObserver(url=mongo_url, db_name="epymarl"))
    try:
        ex.run()
    except RuntimeError:
        pass


@pytest.fixture(autouse=True)
def no_env_store(monkeypatch):
    # Sacred captures what the run prints through sys.stdout (pytest holds the fds)
    monkeypatch.setattr(SETTINGS, "CAPTURE_MODE", "sys")
    monkeypatch.delenv("SACRED_MONGO_URL", raising=False)
    monkeypatch.delenv("SACRED_MONGO_DB", raising=False)


def push(store, url, *filters, capsys):
    code = main(["runs", "push", "--store", str(store), "--to", url, *filters])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.strip().splitlines()[-1]


def summary(store):
    return sorted(
        (
            r.config["seed"],
            r.status,
            r.config["name"],
            tuple(r.metrics["critic_sigma_layer1"].values),
        )
        for r in store.runs()
    )


def test_push_uploads_file_storage_runs_once(mongo_server, tmp_path, capsys):
    files = tmp_path / "sacred"
    for seed in SEEDS:
        make_run(files, seed, fail=seed == 3)

    line = push(files, mongo_server.url, capsys=capsys)
    assert line.endswith("3 runs added, 0 completed, 0 already there")
    assert summary(open_store(mongo_server.url)) == summary(open_store(files))

    db = mongo_server.db()
    fs = gridfs.GridFS(db)
    couts = {
        r.config["seed"]: (files / r.id / "cout.txt").read_text() for r in open_store(files).runs()
    }
    assert couts[1].startswith("training seed 1\n")
    for doc in db.runs.find():
        seed = doc["config"]["seed"]
        assert doc["experiment"]["name"] == "mappo_sn"  # Omniboard's name column
        assert doc["captured_out"] == couts[seed]
        assert [a["name"] for a in doc["artifacts"]] == ["notes.txt"]
        assert fs.get(doc["artifacts"][0]["file_id"]).read() == f"notes of seed {seed}".encode()
        assert {m["name"] for m in doc["info"]["metrics"]} == {
            "critic_sigma_layer1",
            "test_battle_won_mean",
        }
        assert all(fs.exists(file_id) for _, file_id in doc["experiment"]["sources"])
        assert (doc["status"] == "FAILED") == (seed == 3)
        assert ("fail_trace" in doc) == (seed == 3)

    before = {c: list(db[c].find()) for c in db.list_collection_names()}
    assert push(files, mongo_server.url, capsys=capsys).endswith(
        "0 runs added, 0 completed, 3 already there"
    )
    assert {c: list(db[c].find()) for c in db.list_collection_names()} == before


def test_push_selects_runs_by_filters(mongo_server, tmp_path, capsys):
    files = tmp_path / "sacred"
    for seed in SEEDS:
        make_run(files, seed)
    assert push(files, mongo_server.url, "seed=2", capsys=capsys).endswith(
        "1 run added, 0 completed, 0 already there"
    )
    assert [r.config["seed"] for r in open_store(mongo_server.url).runs()] == [2]


def test_push_recognises_runs_the_observer_stored(mongo_server, tmp_path, capsys):
    files = tmp_path / "sacred"
    for seed in SEEDS[:2]:
        make_run(files, seed, mongo_url=mongo_server.url)
    make_run(files, 3)  # made without MongoDB
    assert push(files, mongo_server.url, capsys=capsys).endswith(
        "1 run added, 0 completed, 2 already there"
    )
    assert summary(open_store(mongo_server.url)) == summary(open_store(files))
    assert sorted(d["_id"] for d in mongo_server.db().runs.find()) == [1, 2, 3]


def test_push_completes_a_partial_copy(mongo_server, tmp_path, capsys):
    files = tmp_path / "sacred"
    make_run(files, 1, mongo_url=mongo_server.url)
    db = mongo_server.db()
    # what a copy cut off by an outage looks like: points, status and artifacts missing
    db.metrics.update_one(
        {"name": "critic_sigma_layer1"},
        {
            "$push": {
                "steps": {"$each": [], "$slice": 2},
                "values": {"$each": [], "$slice": 2},
                "timestamps": {"$each": [], "$slice": 2},
            }
        },
    )
    db.metrics.delete_one({"name": "test_battle_won_mean"})
    db.runs.update_one(
        {}, {"$set": {"status": "RUNNING", "artifacts": []}, "$unset": {"stop_time": ""}}
    )
    assert len(db.metrics.find_one({"name": "critic_sigma_layer1"})["values"]) == 2

    assert push(files, mongo_server.url, capsys=capsys).endswith(
        "0 runs added, 1 completed, 0 already there"
    )
    assert summary(open_store(mongo_server.url)) == summary(open_store(files))
    doc = db.runs.find_one()
    assert doc["status"] == "COMPLETED" and doc["stop_time"] >= doc["start_time"]
    assert [a["name"] for a in doc["artifacts"]] == ["notes.txt"]
    mongo_metrics = open_store(mongo_server.url).runs()[0].metrics
    assert mongo_metrics == open_store(files).runs()[0].metrics
    assert push(files, mongo_server.url, capsys=capsys).endswith("1 already there")


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "runs push needs a MongoDB: give --to mongodb://HOST:PORT or set SACRED_MONGO_URL"),
        (["--to", "http://127.0.0.1:1"], "--to takes a mongodb:// URL"),
        (
            ["--to", "mongodb://127.0.0.1:9", "--store", "mongodb://127.0.0.1:9"],
            "runs push reads file storage",
        ),
        (["--to", "mongodb://u:hunter2@127.0.0.1:9"], "MongoDB at 127.0.0.1:9 did not answer"),
    ],
)
def test_push_bad_input_is_one_clear_line(args, message, tmp_path, capsys):
    make_run(tmp_path / "sacred", 1)
    assert main(["runs", "push", "--store", str(tmp_path / "sacred"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "hunter2" not in err
