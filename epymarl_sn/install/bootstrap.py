"""Everything a run needs: the pinned SMAC and SMAClite, the C++ RVO2, PyTorch and
the plugin's requirements, and a patched EPyMARL checkout (`epymarl-sn setup`)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, Union

from epymarl_sn.envs.installed import smac_flavour
from epymarl_sn.errors import SetupError
from epymarl_sn.install import packages
from epymarl_sn.install.checkout import ensure_checkout
from epymarl_sn.install.rvo2 import ensure_rvo2
from epymarl_sn.install.upstreams import SMAC, SMACLITE, Upstream, cache_dir, source_tree


def _wheel(upstream: Upstream, log: Callable[[str], None]) -> Path:
    """A wheel of the upstream at its pinned commit, built once into the cache."""
    wheel_dir = cache_dir() / "wheels" / f"{upstream.name}-{upstream.commit[:12]}"
    wheels = sorted(wheel_dir.glob("*.whl"))
    if wheels:
        return wheels[0]
    tree = source_tree(upstream, log)
    log(f"building a wheel of {upstream.name} at {upstream.commit[:12]}")
    try:
        return packages.build_wheel(tree, wheel_dir)
    except SetupError as err:
        raise SetupError(f"cannot build {upstream.name} from {tree}: {err}") from None


def ensure_pinned_package(
    upstream: Upstream, dist_name: str, log: Callable[[str], None] = print
) -> bool:
    """Install the upstream from its pinned commit unless it already is.

    Its dependencies are the plugin's own requirements, hence --no-deps.
    """
    wheel = _wheel(upstream, log)
    if packages.installed_url(dist_name) == wheel.as_uri():
        return False
    packages.pip_install("--no-deps", "--force-reinstall", str(wheel), log=log)
    return True


def check_no_smac3() -> None:
    if smac_flavour() == "smac3":
        raise SetupError(
            "PyPI's `smac` (SMAC3, a hyper-parameter optimiser) is installed and owns the "
            "`smac` module that StarCraft's SMAC needs; run `pip uninstall smac` "
            "(or use a separate virtual environment) and run setup again"
        )


def setup(target: Union[str, Path] = "epymarl", log: Callable[[str], None] = print) -> Path:
    """Everything a run needs; idempotent. Returns the EPyMARL checkout's path."""
    check_no_smac3()
    packages.ensure_requirements(log)
    ensure_pinned_package(SMAC, "smac", log)
    ensure_pinned_package(SMACLITE, "smaclite", log)
    ensure_rvo2(log)
    checkout = ensure_checkout(Path(target), log)
    compile_batched_kernels(checkout, log)
    return checkout


# the batched backends, by the runner module whose compile_kernels() steps one env
BATCHED = {"RWARE": "epymarl_sn.runners.rware", "SMAClite": "epymarl_sn.runners.smaclite"}


def compile_batched_kernels(checkout: Path, log: Callable[[str], None]) -> None:
    """Compile the batched backends' numba kernels into numba's cache, so that no run's
    start-up pays for it (seconds to a minute; loading them takes a fraction)."""
    for name, module in BATCHED.items():
        if not all(kernel_cache_hits(checkout, module).values()):
            log(f"compiled the batched {name} backend's kernels into numba's cache")


def kernel_cache_hits(checkout: Path, module: str) -> dict[str, int]:
    """Per kernel of a batched backend (`module`, a value of BATCHED), how many of its
    compiled signatures a new process loaded from numba's cache for one step (0: it
    compiled them)."""
    code = (
        f"import json; from {module} import compile_kernels; print(json.dumps(compile_kernels()))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout / "src",  # EPyMARL's modules, as src/main.py imports them
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SetupError(f"the batched kernels of {module} did not compile: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
