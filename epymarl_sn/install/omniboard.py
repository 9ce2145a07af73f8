"""Omniboard (npm `omniboard`, MIT), installed once into the setup cache."""

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from epymarl_sn.errors import BoardError

OMNIBOARD = "omniboard@2.16.1"


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
    home = Path(cache) / OMNIBOARD.replace("@", "-")
    entry = home / "node_modules" / "omniboard" / "dist" / "index.js"
    if entry.is_file():
        return entry
    _, npm = node_tools()
    log(f"installing {OMNIBOARD} with npm into {home} (once; about a minute)")
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
