"""Where StarCraft II and the SMAC maps are, as SMAC/pysc2 will look for them."""

import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]

INSTALL_HINT = (
    "install StarCraft II 4.10 with the SMAC maps (EPyMARL's install_sc2.sh) and set "
    "SC2PATH, or use the docker image (docker/), or run `--env-config=smaclite_sparse`, "
    "which needs no StarCraft II"
)


def sc2_dir(cwd: Optional[PathLike] = None) -> Path:
    """SC2PATH, else EPyMARL's default: 3rdparty/StarCraftII under the run's cwd."""
    env = os.environ.get("SC2PATH")
    return Path(env) if env else Path(cwd or os.getcwd()) / "3rdparty" / "StarCraftII"


def has_binary(path: PathLike) -> bool:
    return any(Path(path).glob("Versions/Base*/SC2_x64"))


def smac_maps_dir(path: PathLike) -> Path:
    return Path(path) / "Maps" / "SMAC_Maps"


def has_smac_maps(path: PathLike) -> bool:
    return any(smac_maps_dir(path).glob("*.SC2Map"))


def smac_map_file(path: PathLike, map_name: str) -> Path:
    """Where pysc2 looks for a SMAC map: SMAC's maps live in Maps/SMAC_Maps/."""
    return smac_maps_dir(path) / f"{map_name}.SC2Map"
