"""The MongoDB side of sweep and plot: with SACRED_MONGO_URL set, resume looks the
runs up in MongoDB, and plot reads them from there with the same result as from
file storage. The tiny sweep's runs are replayed into MongoDB (mongomock) by
Sacred's own MongoObserver."""
import pytest
from sacred import Experiment
from sacred.observers import MongoObserver

import mongo_fake
from epymarl_sn.cli import main

URL = "mongodb://sweeper:hunter2@db.test:27017"


def replay_into_mongo(run):
    ex = Experiment("pymarl")
    ex.add_config(run.config)

    @ex.main
    def replay(_run):
        for name, (steps, values) in run.metrics.items():
            for step, value in zip(steps, values):
                _run.log_scalar(name, value, step)

    ex.observers.append(MongoObserver(url=URL, db_name="epymarl"))
    ex.run()


@pytest.fixture
def mongo_runs(tiny_sweep, monkeypatch, stored):
    mongo_fake.install(monkeypatch)
    monkeypatch.delenv("SACRED_MONGO_DB", raising=False)
    completed = [r for r in stored(tiny_sweep.checkout) if r.status == "COMPLETED"]
    for run in completed:
        replay_into_mongo(run)
    return completed


def test_resume_reads_mongodb_when_sacred_mongo_url_is_set(mongo_runs, tiny_sweep,
                                                           epymarl_dir, tmp_path,
                                                           monkeypatch, capsys, copy_checkout):
    # a checkout with no file storage at all: what is done is only in MongoDB
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    monkeypatch.setenv("SACRED_MONGO_URL", URL)
    code = main(["sweep", str(tiny_sweep.good_spec), "--epymarl", str(checkout), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == (f"# 4 runs in {checkout}, 4 already COMPLETED in "
                                   "MongoDB db.test:27017, database epymarl")
    assert sum(line.startswith("# COMPLETED: ") for line in out.splitlines()) == 4
    assert "hunter2" not in out


def test_plot_from_mongodb_equals_plot_from_files(mongo_runs, tiny_sweep, tmp_path, capsys):
    files = tiny_sweep.checkout / "results" / "sacred"
    assert main(["plot", "--store", str(files), "--preset", "fig5",
                 "--out", str(tmp_path / "files")]) == 0
    assert main(["plot", "--store", URL, "--preset", "fig5",
                 "--out", str(tmp_path / "mongo")]) == 0
    from_files = (tmp_path / "files" / "fig5_final.csv").read_text()
    assert (tmp_path / "mongo" / "fig5_final.csv").read_text() == from_files
    assert from_files.count("\n") == 3  # header and the two variants
    assert "hunter2" not in capsys.readouterr().err
