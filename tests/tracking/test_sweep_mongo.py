"""The MongoDB side of sweep and plot: with SACRED_MONGO_URL set, resume looks the
runs up in MongoDB, and plot reads them from there with the same result as from
file storage. The tiny sweep's completed runs are pushed into a real server by
`epymarl-sn runs push`."""

import pytest

from epymarl_sn.cli import main

from helpers import copy_checkout, stored_runs


@pytest.fixture
def mongo_runs(tiny_sweep, mongo_server, monkeypatch, capsys):
    monkeypatch.delenv("SACRED_MONGO_DB", raising=False)
    completed = [r for r in stored_runs(tiny_sweep.checkout) if r.status == "COMPLETED"]
    files = tiny_sweep.checkout / "results" / "sacred"
    assert (
        main(["runs", "push", "--store", str(files), "--to", mongo_server.url, "status=COMPLETED"])
        == 0
    )
    capsys.readouterr()
    return completed


def test_resume_reads_mongodb_when_sacred_mongo_url_is_set(
    mongo_runs, tiny_sweep, mongo_server, epymarl_dir, tmp_path, monkeypatch, capsys
):
    # a checkout with no file storage at all: what is done is only in MongoDB
    checkout = copy_checkout(epymarl_dir, tmp_path / "epymarl")
    monkeypatch.setenv("SACRED_MONGO_URL", mongo_server.url)
    code = main(["sweep", str(tiny_sweep.good_spec), "--epymarl", str(checkout), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert len(mongo_runs) == 4
    assert out.splitlines()[0] == (
        f"# 4 runs in {checkout}, 4 already COMPLETED in "
        f"MongoDB 127.0.0.1:{mongo_server.port}, database epymarl"
    )
    assert sum(line.startswith("# COMPLETED: ") for line in out.splitlines()) == 4


def test_plot_from_mongodb_equals_plot_from_files(
    mongo_runs, tiny_sweep, mongo_server, tmp_path, capsys
):
    files = tiny_sweep.checkout / "results" / "sacred"
    assert (
        main(["plot", "--store", str(files), "--preset", "fig5", "--out", str(tmp_path / "files")])
        == 0
    )
    assert (
        main(
            [
                "plot",
                "--store",
                mongo_server.url,
                "--preset",
                "fig5",
                "--out",
                str(tmp_path / "mongo"),
            ]
        )
        == 0
    )
    from_files = (tmp_path / "files" / "fig5_final.csv").read_text()
    assert (tmp_path / "mongo" / "fig5_final.csv").read_text() == from_files
    assert from_files.count("\n") == 3  # header and the two variants
