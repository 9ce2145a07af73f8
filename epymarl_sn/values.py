"""Typed config values, as YAML and Sacred give them: the checks and comparisons
that the config checks, the sweep spec and the run stores share."""

from collections.abc import Mapping
from typing import Any

import yaml


def is_int(value: Any) -> bool:
    """An integer, and not a bool (True is an int to Python, never to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(stored: Any, wanted: Any) -> bool:
    """Whether two typed values are the same config value: numbers by value
    (5e-4 == 0.0005, 1 == 1.0), bools only as bools, lists item by item."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted
    if is_number(stored) and is_number(wanted):
        return float(stored) == float(wanted)
    if isinstance(stored, (list, tuple)) and isinstance(wanted, (list, tuple)):
        return len(stored) == len(wanted) and all(map(same, stored, wanted))
    return bool(stored == wanted)


def same_as_text(actual: Any, text: str) -> bool:
    """Whether a typed config value equals a value typed on the command line."""
    try:
        wanted = yaml.safe_load(text)
    except yaml.YAMLError:
        wanted = text
    if is_number(actual) and isinstance(wanted, str):
        # YAML reads 5e-4 as a string; float() reads it as the number it means
        try:
            wanted = float(text)
        except ValueError:
            return False
    return same(actual, wanted) or (isinstance(actual, str) and actual == text)


def task_name(env_args: Mapping[str, Any], fallback: Any = "") -> str:
    """The task as EPyMARL names it: the SMAC map, else the gym env key, else
    `fallback`."""
    return str(env_args.get("map_name", env_args.get("key", fallback)))
