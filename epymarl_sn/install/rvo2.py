"""SMAClite's C++ collision avoidance (SMAClite-Python-RVO2), built from source.

SMAClite imports it as the module `rvo2` when `use_cpp_rvo2` is on; it is 2-3x
faster than SMAClite's numpy port on the paper's maps. It needs a C++ compiler,
cmake and Cython, so it is optional: where it cannot be built, setup says why in
one line and SMAClite keeps its numpy port.
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from epymarl_sn.envs.installed import rvo2_installed
from epymarl_sn.errors import SetupError
from epymarl_sn.install import packages
from epymarl_sn.install.upstreams import RVO2, cache_dir, source_tree

DIST_NAME = "pyrvo2"


def missing_tools() -> list[str]:
    return [tool for tool in ("g++", "cmake") if shutil.which(tool) is None]


def wheel_dir() -> Path:
    # the wheel is a compiled extension: one per Python version
    return cache_dir() / "wheels" / f"{RVO2.name}-{RVO2.commit[:12]}-{sys.implementation.cache_tag}"


def _build_wheel(log: Callable[[str], None]) -> Path:
    tree = source_tree(RVO2, log)
    if importlib.util.find_spec("Cython") is None:
        packages.pip_install("Cython", log=log)  # its setup.py cythonizes rvo2.pyx
    log(f"building the C++ RVO2 for SMAClite at {RVO2.commit[:12]}")
    with tempfile.TemporaryDirectory() as tmp:
        # its setup.py runs cmake in ./build/RVO2 and skips the configure step when
        # that directory exists, so a failed build must not be left in the cache
        work = Path(tmp) / "src"
        shutil.copytree(tree, work)
        # its CMakeLists asks for cmake 2.8, which cmake >= 4 refuses without this
        env = {**os.environ, "CMAKE_POLICY_VERSION_MINIMUM": "3.5"}
        try:
            return packages.build_wheel(work, wheel_dir(), env=env)
        except SetupError as err:
            raise SetupError(f"building it failed: {err}") from None


def ensure_rvo2(log: Callable[[str], None] = print) -> bool:
    """Build (once, cached) and install the extension; True if it was installed now.

    Never fails setup: where it cannot be built, one log line says why.
    """
    fallback = "smaclite_sparse will use SMAClite's numpy port (2-3x slower)"
    tools = missing_tools()
    if tools:
        log(f"skipping SMAClite's C++ RVO2: no {' or '.join(tools)} found; {fallback}")
        return False
    try:
        wheels = sorted(wheel_dir().glob("*.whl"))
        wheel = wheels[0] if wheels else _build_wheel(log)
        if rvo2_installed() and packages.installed_url(DIST_NAME) == wheel.as_uri():
            return False
        packages.pip_install("--no-deps", "--force-reinstall", str(wheel), log=log)
    except SetupError as err:
        log(f"skipping SMAClite's C++ RVO2 ({err}); {fallback}")
        return False
    return True
