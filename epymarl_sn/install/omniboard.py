"""Omniboard (npm `omniboard`, MIT), installed once into the setup cache."""

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from epymarl_sn.errors import BoardError

OMNIBOARD = "omniboard@2.16.1"
# what npm puts on disk for it (measured: 531 MB), with room for npm's own temporary files
OMNIBOARD_MB = 531
NEEDED_MB = 700


def omniboard_entry(cache: Path) -> Path:
    """Where Omniboard's server entry (dist/index.js) is once installed."""
    return (
        Path(cache)
        / OMNIBOARD.replace("@", "-")
        / "node_modules"
        / "omniboard"
        / "dist"
        / "index.js"
    )


def check_space(cache: Path) -> None:
    """BoardError unless Omniboard is installed or the cache's disk has room for it."""
    if omniboard_entry(cache).is_file():
        return
    where = Path(cache)
    while not where.exists():
        where = where.parent
    free_mb = shutil.disk_usage(where).free // 2**20
    if free_mb < NEEDED_MB:
        raise BoardError(
            f"Omniboard needs about {OMNIBOARD_MB} MB in {cache} and {where} has "
            f"{free_mb} MB free; free some space or set EPYMARL_SN_CACHE to another disk"
        )


def node_tools() -> tuple[str, str]:
    """(node, npm) paths, or BoardError naming what is missing and how to get it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = [tool for tool, path in (("node", node), ("npm", npm)) if not path]
        raise BoardError(
            f"Omniboard needs Node.js: {' and '.join(missing)} not found on PATH; "
            "install them (Debian/Ubuntu: apt-get install nodejs npm; else "
            "https://nodejs.org) or open your runs with `epymarl-sn runs`"
        )
    return node, npm


def install_omniboard(cache: Path, log: Callable[[str], None] = print) -> Path:
    """Omniboard's server entry (dist/index.js), installed by npm on first use."""
    entry = omniboard_entry(cache)
    home = entry.parents[3]
    if entry.is_file():
        return entry
    _, npm = node_tools()
    log(f"installing {OMNIBOARD} with npm into {home} (once; {OMNIBOARD_MB} MB, a few minutes)")
    home.parent.mkdir(parents=True, exist_ok=True)
    # into a new directory first: an interrupted install leaves no half an Omniboard
    tmp = Path(tempfile.mkdtemp(prefix=".omniboard-", dir=home.parent))
    proc = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(tmp),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            OMNIBOARD,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise BoardError(
            f"npm could not install {OMNIBOARD}: "
            f"{lines[-1] if lines else f'exit status {proc.returncode}'}"
        )
    shutil.rmtree(home, ignore_errors=True)
    tmp.rename(home)
    return entry
