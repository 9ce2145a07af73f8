"""A sweep spec: a grid of EPyMARL runs in a small YAML file, checked and expanded
to `src/main.py` argument lists.

    configs:                    # the variants: --config names
      - mappo_paper
      - config: mappo_midsn     # a variant with overrides of its own
        with: {critic_sn_k: 2.0}
    env_configs:                # the tasks: --env-config names with their overrides
      - env_config: gymma
        with: {env_args.key: "rware:rware-tiny-2ag-v2", env_args.time_limit: 100}
    seeds: [1, 2, 3, 4]
    t_max: 40050000             # optional: every run's t_max
    with: {test_nepisode: 100}  # optional: overrides for every run
    data_dir: docs/data/rware   # optional: where each finished run's compact data goes

Each (config, env config, seed) is one run:

    python src/main.py --config=C --env-config=E with KEY=VALUE ... t_max=T seed=S

Overrides are merged in order, later ones winning: `t_max`, the spec's `with`, the
env config's, the config's. Keys are Sacred's dotted config keys; values are YAML
scalars or lists, handed to Sacred as Python literals.

`data_dir` (relative to the directory the sweep starts in) keeps the sweep's data
with the code: see sweep/data.py.
"""

import ast
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from epymarl_sn.errors import SpecError
from epymarl_sn.knobs import Setting, integer, keys, knob, optional, parse, setting
from epymarl_sn.resources import available_configs, config_file
from epymarl_sn.values import is_int, task_name, yaml_error

KINDS = {"configs": ("config", "algs"), "env_configs": ("env_config", "envs")}


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def _seeds(value: Any) -> bool:
    # numpy's seeds: a negative one fails each run twice, deep in numpy
    return _non_empty_list(value) and all(is_int(s) and 0 <= s < 2**32 for s in value)


def _mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _path(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _names(field: str) -> str:
    return f"a non-empty list of {field} names (or mappings {{{field}: NAME, with: {{...}}}})"


@dataclass(frozen=True)
class SpecKeys:
    """The keys of a sweep spec (the YAML mapping, before its entries are checked)."""

    configs: list[Any] = knob(
        allowed=_names("config"),
        help="the variants: `--config` names, each alone or with its own `with`",
        valid=_non_empty_list,
        example=["mappo_paper", {"config": "mappo_midsn", "with": {"critic_sn_k": 2.0}}],
    )
    env_configs: list[Any] = knob(
        allowed=_names("env_config"),
        help="the tasks: `--env-config` names, each alone or with its own `with`",
        valid=_non_empty_list,
        example=[{"env_config": "gymma", "with": {"env_args.key": "rware:rware-tiny-2ag-v2"}}],
    )
    seeds: list[int] = knob(
        allowed="a non-empty list of integers from 0 to 2**32 - 1",
        help="the seeds; each (config, env config, seed) is one run",
        valid=_seeds,
        example=[1, 2, 3, 4],
    )
    t_max: Optional[int] = knob(
        None,
        allowed="a positive integer (env steps)",
        help="every run's `t_max`",
        valid=optional(integer(1)),
        example=40050000,
    )
    overrides: Optional[dict[str, Any]] = knob(
        None,
        key="with",
        allowed="a mapping of dotted config keys to values",
        help="overrides for every run (dotted config keys)",
        valid=optional(_mapping),
        example={"env_args.time_limit": 100},
    )
    data_dir: Optional[str] = knob(
        None,
        allowed="a directory path",
        help=(
            "where each finished run's compact data goes, relative to where the sweep "
            "starts; runs kept there are not run again"
        ),
        valid=optional(_path),
        example="docs/data/NAME",
    )


SPEC_KEYS = keys(SpecKeys)


def _yaml(value: Any) -> str:
    """A value as a spec's YAML writes it on one line."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _refuse(s: Setting, value: Any) -> SpecError:
    return SpecError(
        f"`{s.key}` must be {s.knob.allowed}, got {value!r}; e.g. {s.key}: {_yaml(s.example)}"
    )


@dataclass(frozen=True)
class RunSpec:
    config: str
    env_config: str
    overrides: tuple[tuple[str, Any], ...]  # ((dotted key, value), ...), merged, without the seed
    seed: int

    def argv(self) -> list[str]:
        """The arguments after `python src/main.py`."""
        pairs = [f"{key}={sacred_literal(value)}" for key, value in self.overrides]
        return [
            f"--config={self.config}",
            f"--env-config={self.env_config}",
            "with",
            *pairs,
            f"seed={self.seed}",
        ]

    def command(self) -> str:
        return shlex.join(["python", "src/main.py", *self.argv()])

    @property
    def task(self) -> str:
        """What main.py names the task: the map, else the env key, else the env config."""
        values = dict(self.overrides)
        env_args = {
            k[len("env_args.") :]: v for k, v in values.items() if k.startswith("env_args.")
        }
        return task_name(env_args, self.env_config)

    @property
    def label(self) -> str:
        return f"{self.config} {self.task} seed={self.seed}"

    @property
    def progress_label(self) -> str:
        """The variant (its `name` override, else the preset), the task and the seed."""
        name = dict(self.overrides).get("name", self.config)
        return f"{name} {self.task} seed={self.seed}"


def sacred_literal(value: Any) -> str:
    """A config value as Sacred's `with KEY=VALUE` reads it back (ast.literal_eval,
    else the plain string): plain strings stay readable, others become literals."""
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return repr(value)


def _overrides(where: str, value: Any) -> "dict[str, Any]":
    if value is None:
        return {}
    if not isinstance(value, dict):
        s = setting(SpecKeys, "with")
        raise SpecError(f"{where}: `with` must be {s.knob.allowed}, e.g. with: {_yaml(s.example)}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SpecError(f"{where}: override key {key!r} is not a config key")
        if key == "seed":
            raise SpecError(f"{where}: `seed` is set by the spec's `seeds` list, not by `with`")
        if isinstance(item, dict):
            raise SpecError(
                f"{where}: override {key} is a mapping; give each entry as "
                f"a dotted key instead (e.g. {key}.NAME: VALUE)"
            )
    return dict(value)


def _axis(items: "list[Any]", axis: str, checkout: Union[str, Path]) -> "list[tuple[str, Any]]":
    """[(name, overrides)] of `configs` or `env_configs`, names checked to exist."""
    field, subfolder = KINDS[axis]
    entries = []
    for i, item in enumerate(items, 1):
        where = f"{axis}[{i}]"
        name: Optional[str]
        if isinstance(item, str):
            name, overrides = item, {}
        elif isinstance(item, dict):
            unknown = sorted(set(item) - {field, "with"})
            if unknown:
                raise SpecError(
                    f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                    f"allowed: {field}, with"
                )
            name = item.get(field)
            if not isinstance(name, str):
                raise SpecError(f"{where}: `{field}` must name a config, e.g. {field}: NAME")
            overrides = _overrides(where, item.get("with"))
        else:
            raise SpecError(
                f"{where}: expected a {field} name or a mapping "
                f"{{{field}: NAME, with: {{...}}}}, got {item!r}"
            )
        if config_file(checkout, subfolder, name) is None:
            raise SpecError(
                f"{where}: unknown {field} '{name}'. Available: "
                + ", ".join(available_configs(checkout, subfolder))
            )
        entries.append((name, overrides))
    return entries


@dataclass(frozen=True)
class Sweep:
    runs: list[RunSpec]  # in grid order
    data_dir: Optional[Path]  # `data_dir`, as given (relative to where the sweep starts)


def parse_spec(spec: Any, checkout: Union[str, Path]) -> Sweep:
    """A spec (the parsed YAML mapping) -> Sweep, or SpecError."""
    if not isinstance(spec, dict):
        raise SpecError("a sweep spec is a YAML mapping with keys " + ", ".join(SPEC_KEYS))
    unknown = sorted(map(str, set(spec) - set(SPEC_KEYS)))
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    keys = parse(SpecKeys, spec, _refuse)
    if len(set(keys.seeds)) != len(keys.seeds):
        raise SpecError(f"`seeds` lists a seed twice: {keys.seeds}")
    common: dict[str, Any] = {"t_max": keys.t_max} if keys.t_max is not None else {}
    common.update(_overrides("with", keys.overrides))
    configs = _axis(keys.configs, "configs", checkout)
    env_configs = _axis(keys.env_configs, "env_configs", checkout)
    seeds = keys.seeds
    runs: list[RunSpec] = []
    # seed by seed, every config at each: a sweep stopped halfway (or run a few at a time)
    # has compared the variants on the same seeds
    for env_config, env_overrides in env_configs:
        for seed in seeds:
            for config, config_overrides in configs:
                overrides = tuple({**common, **env_overrides, **config_overrides}.items())
                runs.append(RunSpec(config, env_config, overrides, seed))
    seen = set()
    for run in runs:
        if run.command() in seen:
            raise SpecError(
                f"the grid has the run `{run.command()}` twice; "
                "remove the repeated config or env config entry"
            )
        seen.add(run.command())
    return Sweep(runs, Path(keys.data_dir) if keys.data_dir is not None else None)


def load_spec(path: Union[str, Path], checkout: Union[str, Path]) -> Sweep:
    """Read and expand a spec file; every problem is a SpecError naming the file."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpecError(f"cannot read sweep spec {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SpecError(yaml_error(path, err)) from None
    try:
        return parse_spec(spec, checkout)
    except SpecError as err:
        raise SpecError(f"sweep spec {path}: {err}") from None
