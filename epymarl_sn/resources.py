"""Paths of the data shipped with the plugin (config presets, the EPyMARL patch),
and config files looked up by name as the patched EPyMARL main.py does.

setup.py maps `config/` and `patches/` into the package as `epymarl_sn.presets`
and `epymarl_sn.patches`; asking the import system for their location works the
same for a wheel install and an editable one.
"""

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from epymarl_sn.errors import ConfigError, SetupError
from epymarl_sn.values import yaml_error


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SetupError(
            f"{name} is missing from this install of epymarl-sn: reinstall "
            "it (pip install --force-reinstall .)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def config_dir() -> Path:
    """The plugin's config directory, with `algs/` and `envs/` like EPyMARL's."""
    return _package_dir("epymarl_sn.presets")


def config_dirs(checkout: Union[str, Path]) -> list[Path]:
    """Where the patched main.py looks a config name up: EPyMARL's own, then the plugin's."""
    return [Path(checkout) / "src" / "config", config_dir()]


def available_configs(checkout: Union[str, Path], subfolder: str) -> list[str]:
    return sorted({p.stem for d in config_dirs(checkout) for p in (d / subfolder).glob("*.yaml")})


def config_file(checkout: Union[str, Path], subfolder: str, name: str) -> Optional[Path]:
    """The YAML file main.py would load for a config name, or None."""
    paths = [d / subfolder / f"{name}.yaml" for d in config_dirs(checkout)]
    return next((p for p in paths if p.is_file()), None)


def main_config(checkout: Union[str, Path], env_config: str, config: str) -> dict[str, Any]:
    """The config main.py builds before its command-line updates: default.yaml, then the
    env config, then the alg config, each merged into the last as main.py merges them."""
    merged: dict[str, Any] = {}
    files = [Path(checkout) / "src" / "config" / "default.yaml"]
    for subfolder, name in (("envs", env_config), ("algs", config)):
        path = config_file(checkout, subfolder, name)
        if path is None:
            known = ", ".join(available_configs(checkout, subfolder))
            raise ConfigError(f"{subfolder}/{name}.yaml: no such config; known: {known}")
        files.append(path)
    for path in files:
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(yaml_error(path, err)) from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path} holds no mapping of config keys (KEY: VALUE lines)")
        _merge(merged, values)
    return merged


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    """main.py's recursive_dict_update: nested mappings (env_args) merge key by key."""
    for key, value in update.items():
        if isinstance(value, Mapping):
            into[key] = into[key] if isinstance(into.get(key), dict) else {}
            _merge(into[key], value)
        else:
            into[key] = value


def patch_file() -> Path:
    """The patch that teaches EPyMARL's src/main.py to load plugins."""
    return _package_dir("epymarl_sn.patches") / "epymarl_plugins.patch"
