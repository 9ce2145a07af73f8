"""What is there, what is missing, and how to fix it (`epymarl-sn doctor`)."""

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import yaml

from epymarl_sn.envs import starcraft
from epymarl_sn.envs.installed import RVO2_INSTALL_HINT, rvo2_installed, rvo2_state, smac_flavour
from epymarl_sn.errors import StoreError, UsageError
from epymarl_sn.install.checkout import head_commit, patch_state
from epymarl_sn.install.upstreams import EPYMARL
from epymarl_sn.resources import available_configs, config_file
from epymarl_sn.tracking import mongo

# env keys that run on the StarCraft II binary
SC2_ENVS = {"sc2", "sc2v2", "sc2_sparse"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True


def check_checkout(checkout: Path) -> Check:
    name = "EPyMARL checkout"
    if not (checkout / "src" / "main.py").is_file():
        return Check(name, False, f"none at {checkout}", f"run `epymarl-sn setup {checkout}`")
    head = head_commit(checkout) if (checkout / ".git").exists() else None
    if head is not None and head != EPYMARL.commit:
        return Check(
            name,
            False,
            f"{checkout} is at {head[:12]}, not {EPYMARL.commit[:12]}",
            f"`git -C {checkout} checkout {EPYMARL.commit}`, then setup",
        )
    state = patch_state(checkout)
    if state != "applied":
        return Check(
            name,
            False,
            f"{checkout}: plugin patch not applied ({state})",
            f"run `epymarl-sn setup {checkout}`",
        )
    return Check(name, True, f"{checkout} at {EPYMARL.commit[:12]}, patch applied")


def check_module(module: str, fix: str) -> Check:
    found = importlib.util.find_spec(module) is not None
    return Check(f"python package {module}", found, "installed" if found else "missing", fix)


def check_sacred() -> Check:
    check = check_module("sacred", "run `epymarl-sn setup`")
    if check.ok and importlib.util.find_spec("pkg_resources") is None:
        return Check(
            check.name,
            False,
            "installed, but pkg_resources (setuptools < 81) is missing and sacred 0.8.7 imports it",
            "run `epymarl-sn setup`, which installs 'setuptools<80.9' again",
        )
    return check


def check_smac() -> Check:
    flavour = smac_flavour()
    if flavour == "oxwhirl":
        return Check("SMAC (oxwhirl)", True, "installed")
    if flavour == "smac3":
        return Check(
            "SMAC (oxwhirl)",
            False,
            "PyPI's `smac` (SMAC3, a hyper-parameter optimiser) owns the `smac` module",
            "pip uninstall smac; epymarl-sn setup",
        )
    return Check("SMAC (oxwhirl)", False, "missing", "run `epymarl-sn setup`")


def check_starcraft(checkout: Path) -> list[Check]:
    path = starcraft.sc2_dir(checkout)
    if not starcraft.has_binary(path):
        return [
            Check("StarCraft II", False, f"not found in {path} (SC2PATH)", starcraft.INSTALL_HINT)
        ]
    maps = starcraft.has_smac_maps(path)
    return [
        Check("StarCraft II", True, f"found in {path}"),
        Check(
            "SMAC maps",
            maps,
            f"{'found in' if maps else 'none in'} {starcraft.smac_maps_dir(path)}",
            "unzip SMAC_Maps.zip (github.com/oxwhirl/smac releases) into that directory",
        ),
    ]


def check_mongo() -> Check:
    url = os.environ.get("SACRED_MONGO_URL")
    if not url:
        return Check("MongoDB", True, "not used (SACRED_MONGO_URL unset): file storage only")
    try:
        problem = mongo.ping(url, mongo.db_name())
    except StoreError as err:
        problem = str(err)
    if problem:
        return Check(
            "MongoDB",
            False,
            problem,
            "start it (docker compose -f docker/docker-compose.yml up -d mongo) "
            "or fix SACRED_MONGO_URL",
        )
    return Check("MongoDB", True, f"reachable at {mongo.hosts(url)}")


def env_key(checkout: Path, env_config: str) -> Optional[str]:
    """The `env:` of an env config, looked up like the patched main.py does."""
    path = config_file(checkout, "envs", env_config)
    if path is None:
        available = ", ".join(available_configs(checkout, "envs"))
        raise UsageError(f"unknown --env-config '{env_config}'. Available: {available}")
    return yaml.safe_load(path.read_text()).get("env")


def diagnose(checkout: Union[str, Path], env_config: Optional[str] = None) -> list[Check]:
    """All checks; `needed` marks those the requested work cannot do without."""
    checkout = Path(checkout).expanduser().resolve()
    needs_sc2 = env_config is not None and env_key(checkout, env_config) in SC2_ENVS
    checks = [
        check_checkout(checkout),
        check_module("torch", "run `epymarl-sn setup` (EPYMARL_SN_TORCH picks the build)"),
        check_sacred(),
        check_module("rware", "run `epymarl-sn setup`"),
        check_module("pymongo", "run `epymarl-sn setup`"),
        # EPyMARL's envs/__init__.py imports smaclite whatever the env
        check_module("smaclite", "run `epymarl-sn setup`"),
    ]
    optional = [check_smac(), *check_starcraft(checkout)]
    for check in optional:
        check.needed = needs_sc2
    rvo2 = Check(
        "SMAClite C++ RVO2", rvo2_installed(), rvo2_state(), RVO2_INSTALL_HINT, needed=False
    )
    return checks + optional + [check_mongo(), rvo2]


def report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        mark = "ok     " if c.ok else ("MISSING" if c.needed else "absent ")
        line = f"[{mark}] {c.name}: {c.detail}"
        if not c.ok:
            line += f"\n          fix: {c.fix}"
            if not c.needed:
                line += " (not needed for the requested work)"
        lines.append(line)
    return "\n".join(lines)
