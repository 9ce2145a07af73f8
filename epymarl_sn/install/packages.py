"""Python packages EPyMARL needs, and installing them with pip only when missing."""

import importlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional, Union

from packaging.requirements import Requirement

from epymarl_sn.errors import SetupError

CONSTRAINTS = Path(__file__).with_name("constraints.txt")


def plugin_requirements() -> list[str]:
    """What `pip install epymarl-sn` requires (setup.py's list, read back from the
    installed metadata), without the extras."""
    try:
        requires = metadata.requires("epymarl-sn") or []
    except metadata.PackageNotFoundError:
        return []
    return [r for r in requires if Requirement(r).marker is None]


def torch_requirement() -> list[str]:
    """`EPYMARL_SN_TORCH`: pip's arguments for PyTorch, which pick the build: `torch`
    (the default: PyPI's, a CUDA build on Linux x86_64), `torch==2.13.0`, or the CPU
    build from PyTorch's own index,
    `torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`."""
    text = os.environ.get("EPYMARL_SN_TORCH", "torch")
    try:
        args = shlex.split(text)
    except ValueError as err:
        args = []
        why = str(err)
    else:
        why = "it names no package"
    if not args:
        raise SetupError(
            f"EPYMARL_SN_TORCH={text!r} is not pip arguments ({why}); "
            'e.g. EPYMARL_SN_TORCH="torch --index-url https://download.pytorch.org/whl/cpu"'
        )
    return args


def is_satisfied(requirement: str) -> bool:
    req = Requirement(requirement)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(version, prereleases=True)


def pip_install(*args: str, log: Callable[[str], None] = print) -> None:
    # every call holds the same pins, so that no install undoes an earlier one
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-c", str(CONSTRAINTS), *args]
    log("running " + " ".join(cmd[2:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise SetupError(
            f"pip install {' '.join(args)} failed: {lines[-1] if lines else proc.returncode}"
        )


def build_wheel(
    tree: Union[str, Path], wheel_dir: Union[str, Path], env: Optional[Mapping[str, str]] = None
) -> Path:
    """A wheel of a source tree, built into wheel_dir with the packages already
    installed (no dependencies, no build isolation). A failed build raises
    SetupError with the build's own last words."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-c",
            str(CONSTRAINTS),
            "--wheel-dir",
            str(wheel_dir),
            str(tree),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wheels = sorted(Path(wheel_dir).glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise SetupError(_build_error(proc.stderr + proc.stdout))
    return wheels[0]


def _build_error(output: str) -> str:
    """The build's own last words: pip quotes them before "[end of output]"."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if "[end of output]" in lines[1:]:
        return lines[len(lines) - 1 - lines[::-1].index("[end of output]") - 1]
    return lines[-1] if lines else "no wheel"


def ensure_torch(log: Callable[[str], None] = print) -> bool:
    """Install PyTorch as `EPYMARL_SN_TORCH` says when it is missing, in a pip call of
    its own (its arguments may name another index); -> whether it was installed."""
    if is_satisfied("torch"):
        return False
    pip_install(*torch_requirement(), log=log)
    importlib.invalidate_caches()  # this process may import it now
    return True


def ensure_requirements(log: Callable[[str], None] = print) -> list[str]:
    """Install what is missing (PyTorch, or a requirement something undid since
    `pip install epymarl-sn`); with everything present pip is not even started."""
    installed = [" ".join(torch_requirement())] if ensure_torch(log) else []
    missing = [r for r in plugin_requirements() if not is_satisfied(r)]
    if missing:
        pip_install(*missing, log=log)
    return installed + missing


def installed_url(dist_name: str) -> Optional[str]:
    """Where pip installed a distribution from (PEP 610), or None."""
    try:
        text = metadata.distribution(dist_name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    return json.loads(text)["url"] if text else None
