"""A patched EPyMARL checkout at the pinned commit."""

import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional, Union

from epymarl_sn.errors import SetupError
from epymarl_sn.install.upstreams import EPYMARL, cached_git_dir, git, plain_tree
from epymarl_sn.resources import patch_file


def patch_state(checkout: Union[str, Path]) -> str:
    """'applied', 'applicable' or 'conflict' for the plugin patch in a checkout."""

    def applies(*flags: str) -> bool:
        proc = subprocess.run(
            ["git", "apply", "--check", *flags, str(patch_file())],
            cwd=checkout,
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    if applies("--reverse"):
        return "applied"
    return "applicable" if applies() else "conflict"


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
    state = patch_state(target)
    if state == "conflict":
        restore = (
            f"`git -C {target} checkout src/main.py`"
            if (target / ".git").exists()
            else f"EPyMARL's own, from github.com/uoe-agents/epymarl at {EPYMARL.commit[:12]}"
        )
        raise SetupError(
            f"{target}/src/main.py has changes that conflict with the plugin patch; "
            f"restore it ({restore}) or give setup a new directory, then run setup again"
        )
    if state == "applicable":
        log(f"applying {patch_file().name}")
        subprocess.run(["git", "apply", str(patch_file())], cwd=target, check=True)
    return target
