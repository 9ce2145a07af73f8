"""Typed config values, as YAML and Sacred give them: the checks and comparisons
that the config checks, the sweep spec and the run stores share."""

from collections.abc import Iterator, Mapping
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


def yaml_error(path: object, err: "yaml.YAMLError") -> str:
    """A YAML syntax error as one line: the file, the line and column, the problem."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{path} is not valid YAML{where}: {problem}"


def dotted_keys(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every leaf key of a nested config, dotted (`env_args.map_name`)."""
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from dotted_keys(value, f"{prefix}{key}.")
        else:
            yield prefix + key


def dotted_get(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """The value of a dotted key in a nested config, or `default`."""
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def dotted_set(config: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key in a nested config, as Sacred's `with KEY=VALUE` does."""
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(config.get(part), dict):
            config[part] = {}
        config = config[part]
    config[last] = value
