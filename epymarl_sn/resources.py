"""Paths of the data shipped with the plugin (config presets, the EPyMARL patch).

setup.py maps `config/` and `patches/` into the package as `epymarl_sn.presets`
and `epymarl_sn.patches`; asking the import system for their location works the
same for a wheel install and an editable one.
"""
import importlib.util
from pathlib import Path


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations)))


def config_dir():
    """The plugin's config directory, with `algs/` and `envs/` like EPyMARL's."""
    return _package_dir("epymarl_sn.presets")


def patch_file():
    """The patch that teaches EPyMARL's src/main.py to load plugins."""
    return _package_dir("epymarl_sn.patches") / "epymarl_plugins.patch"
