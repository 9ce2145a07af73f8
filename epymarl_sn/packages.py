"""Python packages EPyMARL needs, and installing them with pip only when missing."""
import json
import os
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

from .upstreams import SetupError

# What EPyMARL at the pinned commit imports on the MAPPO/RWARE/SMAC paths, with
# the pins that make it work on current Python.
RUNTIME_REQUIREMENTS = (
    "sacred==0.8.7",
    "setuptools<81",  # sacred 0.8.7 imports pkg_resources, gone in setuptools 81
    "pymongo",
    "rware",
    "gymnasium",
    "numpy",
    "pyyaml",
    "cloudpickle",
    "pygame",
    # SMAClite's own dependencies; it pins Rtree==1.0.0, which needs the system
    # libspatialindex, while later Rtree wheels bundle it.
    "scikit-learn",
    "rtree>=1.0.1",
    # SMAC's own dependencies
    "protobuf<3.21",
    "pysc2>=3.0.0",
    "s2clientprotocol>=4.10.1.75800.0",
    "absl-py>=0.1.0",
)


def torch_requirement():
    """`EPYMARL_SN_TORCH` picks the build, e.g. `torch==2.13.0` for a CPU wheel."""
    return os.environ.get("EPYMARL_SN_TORCH", "torch")


def is_satisfied(requirement):
    req = Requirement(requirement)
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(version, prereleases=True)


def pip_install(*args, log=print):
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *args]
    log("running " + " ".join(cmd[2:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise SetupError(
            f"pip install {' '.join(args)} failed: {lines[-1] if lines else proc.returncode}"
        )


def ensure_requirements(log=print):
    """Install what is missing; with everything present pip is not even started."""
    wanted = list(RUNTIME_REQUIREMENTS)
    if not is_satisfied("torch"):
        wanted.insert(0, torch_requirement())
    missing = [r for r in wanted if not is_satisfied(r)]
    if missing:
        pip_install(*missing, log=log)
    return missing


def installed_url(dist_name):
    """Where pip installed a distribution from (PEP 610), or None."""
    try:
        text = metadata.distribution(dist_name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    return json.loads(text)["url"] if text else None


def smac_flavour():
    """Which package owns the `smac` module: 'oxwhirl', 'smac3', or None."""
    try:
        files = metadata.distribution("smac").files or []
    except metadata.PackageNotFoundError:
        return None
    paths = {str(f).replace("\\", "/") for f in files}
    return "oxwhirl" if "smac/env/starcraft2/starcraft2.py" in paths else "smac3"
