"""What the sparse envs need installed, asked without importing it: oxwhirl's SMAC
(and not PyPI's SMAC3 under the same module name) and SMAClite's C++ RVO2."""

import importlib.util
from importlib import metadata
from typing import Optional

RVO2_INSTALL_HINT = (
    "run `epymarl-sn setup` where g++ and cmake are installed "
    "(it builds github.com/micadam/SMAClite-Python-RVO2)"
)


def smac_flavour() -> Optional[str]:
    """Which package owns the `smac` module: 'oxwhirl', 'smac3', or None."""
    try:
        files = metadata.distribution("smac").files or []
    except metadata.PackageNotFoundError:
        return None
    paths = {str(f).replace("\\", "/") for f in files}
    return "oxwhirl" if "smac/env/starcraft2/starcraft2.py" in paths else "smac3"


def rvo2_installed() -> bool:
    """Whether SMAClite's `use_cpp_rvo2` can import the extension."""
    return importlib.util.find_spec("rvo2") is not None


def rvo2_state() -> str:
    if rvo2_installed():
        return "installed"
    return "not installed: SMAClite uses its numpy port (2-3x slower)"
