"""`epymarl-sn runs` and the run store, on runs made by Sacred's real observers.

Each run is written by Sacred's FileStorageObserver and by Sacred's own
MongoObserver (on a real server) at once, so both stores hold the same runs.
"""

import csv
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sacred import Experiment
from sacred.observers import FileStorageObserver, MongoObserver

from epymarl_sn.cli import main
from epymarl_sn.errors import StoreError
from epymarl_sn.tracking.store import is_mongo_url, open_store, parse_filters

# critic_sn, map, seed; the run with fail=True raises, Sacred records it as FAILED;
# critic_sn None: a run without the SN critic (mappo_paper: EPyMARL's cv_critic)
RUNS = [
    dict(critic_sn=None, map="corridor", seed=1),
    dict(critic_sn="last", map="corridor", seed=1),
    dict(critic_sn="last", map="corridor", seed=2),
    dict(critic_sn="mid", map="corridor", seed=1),
    dict(critic_sn=[1, 2], map="corridor", seed=1),
    dict(critic_sn="last", map="27m_vs_30m", seed=1),
    dict(critic_sn="last", map="corridor", seed=3, fail=True),
]


def returns(seed, critic_sn):
    return [seed * 10.0 + len(str(critic_sn)) + step / 4 for step in range(4)]


def make_runs(file_dir, url):
    for spec in RUNS:
        ex = Experiment("pymarl")
        sn = spec["critic_sn"] is not None
        ex.add_config(
            name="mappo_sn" if sn else "mappo_paper",
            seed=spec["seed"],
            critic_type="cv_critic_sn" if sn else "cv_critic",
            **({"critic_sn": spec["critic_sn"]} if sn else {}),
            lr=0.0005,
            critic_sn_clamp=False,
            env_args={"map_name": spec["map"], "time_limit": 150},
        )

        @ex.main
        def train(_run, seed):
            for step, value in enumerate(returns(seed, spec["critic_sn"])):
                _run.log_scalar("return_mean", value, step * 1000)
                _run.log_scalar("critic_grad_norm", value / 100, step * 1000)
            if spec.get("fail"):
                raise RuntimeError("diverged")

        ex.observers.append(FileStorageObserver(str(file_dir)))
        ex.observers.append(MongoObserver(url=url, db_name="epymarl"))
        try:
            ex.run()
        except RuntimeError:
            pass


@pytest.fixture
def stores(tmp_path, monkeypatch, mongo_server):
    monkeypatch.delenv("SACRED_MONGO_URL", raising=False)
    monkeypatch.delenv("SACRED_MONGO_DB", raising=False)
    make_runs(tmp_path / "sacred", mongo_server.url)
    return {"files": str(tmp_path / "sacred"), "mongo": mongo_server.url}


@pytest.fixture(params=["files", "mongo"])
def store(request, stores):
    return stores[request.param]


def selected(store, *filters):
    runs = open_store(store).runs(parse_filters(filters))
    return sorted(
        (r.config["env_args"]["map_name"], str(r.get("critic_sn")), r.config["seed"], r.status)
        for r in runs
    )


def test_store_reads_every_run_with_config_status_times_and_metrics(store):
    runs = open_store(store).runs()
    assert len(runs) == len(RUNS)
    for run in runs:
        assert run.start_time is not None and run.stop_time >= run.start_time
        steps, values = run.metrics["critic_grad_norm"]
        assert steps == [0, 1000, 2000, 3000]
        expected = returns(run.config["seed"], run.config.get("critic_sn"))
        assert values == pytest.approx([v / 100 for v in expected])
    assert sorted(r.status for r in runs) == ["COMPLETED"] * 6 + ["FAILED"]


def test_filters_compare_command_line_text_with_typed_config_values(store):
    assert selected(store, "critic_sn=last", "env_args.map_name=corridor") == [
        ("corridor", "last", 1, "COMPLETED"),
        ("corridor", "last", 2, "COMPLETED"),
        ("corridor", "last", 3, "FAILED"),
    ]
    assert selected(store, "critic_sn=last", "status=completed", "seed=1") == [
        ("27m_vs_30m", "last", 1, "COMPLETED"),
        ("corridor", "last", 1, "COMPLETED"),
    ]
    assert selected(store, "critic_sn=[1, 2]") == [("corridor", "[1, 2]", 1, "COMPLETED")]
    assert len(selected(store, "lr=5e-4", "critic_sn_clamp=false")) == len(RUNS)
    # a run without the SN critic is the `none` baseline, though it has no critic_sn key
    assert selected(store, "critic_sn=none") == [("corridor", "none", 1, "COMPLETED")]
    assert selected(store, "seed=1.5") == []
    assert selected(store, "env_args.no_such_key=1") == []


def test_runs_lists_the_selected_runs(store, capsys):
    assert main(["runs", "--store", store, "critic_sn=mid"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["id", "status", "started", "name", "map", "seed", "critic_sn"]
    assert len(out) == 2
    assert out[1].split()[1] == "COMPLETED"
    assert out[1].split()[-3:] == ["corridor", "1", "mid"]


@pytest.mark.parametrize("kind", ["files", "mongo"])
def test_runs_show_prints_one_run(stores, kind, capsys):
    failed, paper = (
        open_store(stores[kind]).runs(parse_filters([f]))[0]
        for f in ("status=FAILED", "critic_sn=none")
    )
    assert main(["runs", "show", str(failed.id), "--store", stores[kind]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"run {failed.id}: name mappo_sn, map corridor, seed 3, critic_sn last"
    assert out[1] == "status: FAILED, stop reason: RuntimeError: diverged"
    final = dict(
        line.split()[:2]
        for line in out[
            out.index("final metrics (last value, at env step):") + 1 : out.index("config:")
        ]
    )
    assert float(final["return_mean"]) == pytest.approx(returns(3, "last")[-1])
    assert "  seed = 3" in out and "  env_args.map_name = 'corridor'" in out
    files = out[3].removeprefix("files: ")
    if kind == "files":
        assert (Path(files) / "run.json").is_file() and (Path(files) / "metrics.json").is_file()
    else:
        assert files.startswith(f"on {platform.node()}, under ")
    assert main(["runs", "show", str(paper.id), "--store", stores[kind]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        f"run {paper.id}: name mappo_paper, map corridor, seed 1, critic_sn none",
        "status: COMPLETED",
    ]
    assert main(["runs", "show", "999", "--store", stores[kind]]) == 2
    err = capsys.readouterr().err
    assert "no run '999' in" in err and "(7 runs there;" in err and len(err.splitlines()) == 1


def test_runs_exports_chosen_metrics_of_selected_runs_to_csv(store, tmp_path, capsys):
    out = tmp_path / "export.csv"
    code = main(
        [
            "runs",
            "--store",
            store,
            "critic_sn=last",
            "status=COMPLETED",
            "--export-csv",
            str(out),
            "--metrics",
            "return_mean",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert {r["metric"] for r in rows} == {"return_mean"}
    by_run = {}
    for r in rows:
        by_run.setdefault((r["map"], r["seed"]), []).append((int(r["step"]), float(r["value"])))
    assert sorted(by_run) == [("27m_vs_30m", "1"), ("corridor", "1"), ("corridor", "2")]
    for (_, seed), points in by_run.items():
        assert [p[0] for p in points] == [0, 1000, 2000, 3000]
        assert [p[1] for p in points] == pytest.approx(returns(int(seed), "last"))
    assert all(r["critic_sn"] == "last" and r["name"] == "mappo_sn" for r in rows)


def test_runs_never_writes_to_the_store(stores, tmp_path):
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "sacred").rglob("*"))
    main(
        [
            "runs",
            "--store",
            stores["files"],
            "--export-csv",
            str(tmp_path / "x.csv"),
            "--metrics",
            "return_mean",
        ]
    )
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "sacred").rglob("*")) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["critic_sn"], "filter 'critic_sn' is not KEY=VALUE"),
        (["--export-csv", "x.csv"], "--export-csv FILE and --metrics M,... go together"),
        (
            ["--export-csv", "x.csv", "--metrics", "no_such_metric"],
            "no selected run has metric no_such_metric; they have: critic_grad_norm, return_mean",
        ),
        (["critic_sn=full", "--export-csv", "x.csv", "--metrics", "return_mean"], "no run in"),
    ],
)
def test_runs_bad_input_is_one_clear_line(stores, args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "--store", stores["files"], *args]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_runs_names_an_unreadable_store_without_credentials(tmp_path, capsys):
    assert main(["runs", "--store", str(tmp_path / "nowhere")]) == 2
    assert "no run directory" in capsys.readouterr().err
    url = "mongodb://reader:hunter2@127.0.0.1:9/"
    assert main(["runs", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "hunter2" not in err


def test_both_stores_answer_the_store_protocol_alike(store):
    """What sweeps, exports and `runs mark-stale` ask of a store, asked of each kind."""
    opened = open_store(store)
    try:
        runs = opened.runs()
        info = opened.sacred_info(runs[0], ("host", "experiment", "nothing"))
        assert sorted(info) == ["experiment", "host"] and info["host"]["hostname"]
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        # a run that is no longer RUNNING is left as it is; no run has this comment
        assert not opened.interrupt(runs[0], "gone", now)
        assert opened.settle("no such comment", "FAILED", "gone", now, False) == 0
        assert [r.status for r in opened.runs()] == [r.status for r in runs]
    finally:
        opened.close()


def test_one_place_picks_the_store_by_its_url(tmp_path):
    assert is_mongo_url("mongodb://h:1") and is_mongo_url("mongodb+srv://h")
    assert not is_mongo_url(tmp_path) and not is_mongo_url("results/mongodb://")
    assert open_store(tmp_path / "none", must_exist=False).runs() == []
    with pytest.raises(StoreError, match="no run directory"):
        open_store(tmp_path / "none")
    # no other module tests a location's scheme itself
    package = Path(__file__).resolve().parents[2] / "epymarl_sn"
    testing = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if re.search(r"MONGO_SCHEMES|startswith\(\s*[\"']mongodb", p.read_text())
    ]
    assert testing == ["tracking/store.py"]
