"""A new user's machine: a new virtual environment, `pip install .`, then
`epymarl-sn setup` with an empty cache. Whatever the plugin, its commands or
EPyMARL import must arrive through these two steps alone."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from epymarl_sn.install.upstreams import ALL, cached_git_dir

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("setup", "doctor", "runs", "runs push", "sweep", "plot", "board")


def run(*cmd, env=None, cwd=None):
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, timeout=1200
    )
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_pip_install_then_setup_in_a_new_venv(epymarl_dir, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    bin_dir = venv / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("EPYMARL_SN_")
    }
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])

    run(bin_dir / "python", "-m", "pip", "install", "--quiet", ROOT, env=env, cwd=tmp_path)
    for sub in ("", *SUBCOMMANDS):
        assert (
            "usage: epymarl-sn"
            in run(bin_dir / "epymarl-sn", *sub.split(), "--help", env=env).stdout
        )

    # an empty cache, the upstreams from local mirrors (this session's cache, filled
    # by the epymarl_dir fixture), PyTorch as the documented variable picks it
    env["EPYMARL_SN_CACHE"] = str(tmp_path / "cache")
    env["EPYMARL_SN_TORCH"] = f"torch=={torch.__version__.split('+')[0]}"
    for upstream in ALL:
        env[upstream.env_var] = str(cached_git_dir(upstream))
    target = tmp_path / "epymarl"
    proc = run(bin_dir / "epymarl-sn", "setup", target, env=env, cwd=tmp_path)
    assert proc.stdout.splitlines()[-1] == str(target)
    assert (target / "src" / "main.py").is_file()

    code = (
        "import importlib.metadata as m, pkg_resources, sacred, pymongo, torch, "
        "smaclite, rware; from smac.env.starcraft2.starcraft2 import StarCraft2Env; "
        "print(m.version('setuptools'), m.version('sacred'))"
    )
    setuptools, sacred = run(bin_dir / "python", "-c", code, env=env).stdout.split()
    assert int(setuptools.split(".")[0]) < 81 and sacred == "0.8.7"
    # setup again changes nothing
    again = run(bin_dir / "epymarl-sn", "setup", target, env=env, cwd=tmp_path)
    assert again.stderr == ""

    # a later install that brings setuptools >= 81 back: doctor says so, setup repairs it
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "setuptools>=81", env=env)
    doctor = subprocess.run(
        [bin_dir / "epymarl-sn", "doctor", target], env=env, capture_output=True, text=True
    )
    assert doctor.returncode == 1
    assert (
        "[MISSING] python package sacred: installed, but pkg_resources (setuptools < 81) is missing"
    ) in doctor.stdout
    assert "fix: run `epymarl-sn setup`, which installs 'setuptools<80.9' again" in doctor.stdout
    repair = run(bin_dir / "epymarl-sn", "setup", target, env=env, cwd=tmp_path)
    assert "setuptools<80.9" in repair.stderr
    run(bin_dir / "python", "-c", "import sacred, pkg_resources", env=env)
