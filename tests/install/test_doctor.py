"""`epymarl-sn doctor` on this machine: StarCraft II is absent."""

import subprocess

import pytest


def doctor(*args):
    return subprocess.run(["epymarl-sn", "doctor", *args], capture_output=True, text=True)


@pytest.fixture
def no_sc2(tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "StarCraftII"))
    monkeypatch.delenv("SACRED_MONGO_URL", raising=False)
    return tmp_path / "StarCraftII"


def test_missing_starcraft_reported_but_not_fatal_for_other_work(epymarl_dir, no_sc2):
    proc = doctor(str(epymarl_dir))
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    assert f"[absent ] StarCraft II: not found in {no_sc2} (SC2PATH)" in lines
    assert any(
        ln.startswith("[ok     ] EPyMARL checkout:") and "patch applied" in ln for ln in lines
    )
    assert "SMAC (oxwhirl): installed" in proc.stdout
    assert "MongoDB: not used" in proc.stdout

    proc = doctor(str(epymarl_dir), "--env-config", "gymma")
    assert proc.returncode == 0


def test_missing_starcraft_fails_work_that_needs_it(epymarl_dir, no_sc2):
    proc = doctor(str(epymarl_dir), "--env-config", "sc2")
    assert proc.returncode == 1
    assert f"[MISSING] StarCraft II: not found in {no_sc2} (SC2PATH)" in proc.stdout
    assert "fix: install StarCraft II 4.10" in proc.stdout


def test_starcraft_without_smac_maps(epymarl_dir, no_sc2):
    binary = no_sc2 / "Versions" / "Base75689" / "SC2_x64"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    proc = doctor(str(epymarl_dir), "--env-config", "sc2")
    assert proc.returncode == 1
    assert f"[ok     ] StarCraft II: found in {no_sc2}" in proc.stdout
    assert f"[MISSING] SMAC maps: none in {no_sc2}/Maps/SMAC_Maps" in proc.stdout

    (no_sc2 / "Maps" / "SMAC_Maps").mkdir(parents=True)
    (no_sc2 / "Maps" / "SMAC_Maps" / "3m.SC2Map").write_bytes(b"")
    assert doctor(str(epymarl_dir), "--env-config", "sc2").returncode == 0


def test_missing_checkout_is_fatal(tmp_path, no_sc2):
    proc = doctor(str(tmp_path / "nowhere"))
    assert proc.returncode == 1
    assert f"[MISSING] EPyMARL checkout: none at {tmp_path / 'nowhere'}" in proc.stdout
    assert f"fix: run `epymarl-sn setup {tmp_path / 'nowhere'}`" in proc.stdout


def test_unknown_env_config_is_one_line(epymarl_dir, no_sc2):
    proc = doctor(str(epymarl_dir), "--env-config", "sc3")
    assert proc.returncode == 2  # bad input
    assert proc.stderr.startswith("epymarl-sn doctor: error: unknown --env-config 'sc3'.")
    assert "Traceback" not in proc.stderr
