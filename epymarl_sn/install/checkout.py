"""A patched EPyMARL checkout at the pinned commit."""

import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional, Union

from epymarl_sn.errors import SetupError
from epymarl_sn.install.upstreams import EPYMARL, cached_git_dir, git, plain_tree
from epymarl_sn.resources import patch_file

# the files the plugin patch changes (a checkout patched by an earlier version of the
# plugin has only some of them patched: setup patches the rest)
PATCHED = ("src/main.py", "src/run.py")


def _applies(checkout: Union[str, Path], *flags: str) -> bool:
    proc = subprocess.run(
        ["git", "apply", "--check", *flags, str(patch_file())],
        cwd=checkout,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def _file_states(checkout: Union[str, Path]) -> dict[str, str]:
    """Each patched file -> 'applied', 'applicable' or 'conflict'."""
    states = {}
    for name in PATCHED:
        only = f"--include={name}"
        if _applies(checkout, "--reverse", only):
            states[name] = "applied"
        else:
            states[name] = "applicable" if _applies(checkout, only) else "conflict"
    return states


def patch_state(checkout: Union[str, Path]) -> str:
    """'applied', 'applicable' (to every file, or to those an earlier version of the
    plugin's patch left alone) or 'conflict' for the plugin patch in a checkout."""
    states = set(_file_states(checkout).values())
    if states == {"applied"}:
        return "applied"
    return "conflict" if "conflict" in states else "applicable"


def head_commit(checkout: Union[str, Path]) -> Optional[str]:
    try:
        return git("rev-parse", "HEAD", cwd=checkout)
    except SetupError:
        return None


def _create(target: Path, log: Callable[[str], None]) -> None:
    plain = plain_tree(EPYMARL.source)
    if plain is not None:
        log(
            f"copying EPyMARL from the plain directory {plain} "
            f"(commit {EPYMARL.commit[:12]} is not checked)"
        )
        shutil.copytree(plain, target)
        return
    git_dir = cached_git_dir(EPYMARL, log)
    git("clone", "--quiet", "--no-checkout", str(git_dir), str(target))
    git("checkout", "--quiet", "--detach", EPYMARL.commit, cwd=target)


def ensure_checkout(target: Union[str, Path], log: Callable[[str], None] = print) -> Path:
    """Create or verify `target` as EPyMARL at the pinned commit with the patch."""
    target = Path(target).expanduser().resolve()
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        if target.exists():
            target.rmdir()
        target.parent.mkdir(parents=True, exist_ok=True)
        log(f"creating the EPyMARL checkout in {target}")
        _create(target, log)
    elif not (target / "src" / "main.py").is_file():
        raise SetupError(
            f"{target} exists but is not an EPyMARL checkout (no src/main.py); "
            "give `epymarl-sn setup` an empty or new directory"
        )
    head = head_commit(target) if (target / ".git").exists() else None
    if head is not None and head != EPYMARL.commit:
        raise SetupError(
            f"{target} is EPyMARL at {head[:12]}, not the pinned {EPYMARL.commit[:12]}; "
            f"run `git -C {target} checkout {EPYMARL.commit}` or choose another directory"
        )
    states = _file_states(target)
    conflicts = [name for name, state in states.items() if state == "conflict"]
    if conflicts:
        restore = (
            f"`git -C {target} checkout {' '.join(conflicts)}`"
            if (target / ".git").exists()
            else f"EPyMARL's own, from github.com/uoe-agents/epymarl at {EPYMARL.commit[:12]}"
        )
        raise SetupError(
            f"{target}/{' and '.join(conflicts)} has changes that conflict with the plugin "
            f"patch; restore it ({restore}) or give setup a new directory, then run setup again"
        )
    todo = [name for name, state in states.items() if state == "applicable"]
    if todo:
        log(f"applying {patch_file().name} to {', '.join(todo)}")
        includes = [f"--include={name}" for name in todo]
        subprocess.run(["git", "apply", *includes, str(patch_file())], cwd=target, check=True)
    return target
