"""setup's build of SMAClite's C++ RVO2: installed where it can be built, one log
line and no failure where it cannot."""

import shutil

from epymarl_sn.envs.installed import rvo2_installed
from epymarl_sn.install import packages
from epymarl_sn.install import rvo2 as rvo2_build


def test_built_and_installed_where_a_compiler_and_cmake_exist():
    # what `epymarl-sn setup` runs; this machine has g++ and cmake
    assert rvo2_build.missing_tools() == []
    logs = []
    rvo2_build.ensure_rvo2(log=logs.append)
    assert rvo2_installed(), logs
    (wheel,) = rvo2_build.wheel_dir().glob("pyrvo2-*.whl")
    assert packages.installed_url(rvo2_build.DIST_NAME) == wheel.as_uri()
    # idempotent: nothing is built or installed again, nothing is logged
    logs.clear()
    assert rvo2_build.ensure_rvo2(log=logs.append) is False
    assert logs == []


def test_no_compiler_skips_with_one_line(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "g++" else "/usr/bin/" + tool)
    logs = []
    assert rvo2_build.ensure_rvo2(log=logs.append) is False
    (line,) = logs
    assert "no g++ found" in line and "numpy port" in line


def test_failed_build_skips_with_one_line_and_leaves_no_wheel(tmp_path, monkeypatch):
    broken = tmp_path / "rvo2-source"
    broken.mkdir()
    (broken / "setup.py").write_text("raise SystemExit('no RVO2 here')\n")
    monkeypatch.setenv("EPYMARL_SN_RVO2_SOURCE", str(broken))
    monkeypatch.setenv("EPYMARL_SN_CACHE", str(tmp_path / "cache"))
    logs = []
    assert rvo2_build.ensure_rvo2(log=logs.append) is False
    assert logs[-1].startswith("skipping SMAClite's C++ RVO2 (building it failed: no RVO2 here)")
    assert "numpy port" in logs[-1]
    assert not list(rvo2_build.wheel_dir().glob("*.whl"))
