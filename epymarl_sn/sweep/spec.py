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
from epymarl_sn.resources import available_configs, config_file
from epymarl_sn.values import is_int, task_name

SPEC_KEYS = ("configs", "env_configs", "seeds", "t_max", "with", "data_dir")
KINDS = {"configs": ("config", "algs"), "env_configs": ("env_config", "envs")}


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


def _overrides(where, value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(
            f"{where}: `with` must be a mapping of dotted config keys to "
            "values, e.g. with: {env_args.time_limit: 100}"
        )
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


def _axis(spec, axis, checkout):
    """[(name, overrides)] for `configs` or `env_configs`, names checked to exist."""
    field, subfolder = KINDS[axis]
    items = spec.get(axis)
    if not isinstance(items, list) or not items:
        raise SpecError(
            f"`{axis}` must be a non-empty list of {field} names "
            f"(or mappings {{{field}: NAME, with: {{...}}}})"
        )
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


def _seeds(spec):
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(is_int(s) for s in seeds):
        raise SpecError("`seeds` must be a non-empty list of integers, e.g. seeds: [1, 2, 3, 4]")
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"`seeds` lists a seed twice: {seeds}")
    return seeds


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
    t_max = spec.get("t_max")
    if t_max is not None and (not is_int(t_max) or t_max <= 0):
        raise SpecError(f"`t_max` must be a positive integer (env steps), got {t_max!r}")
    data_dir = spec.get("data_dir")
    if data_dir is not None and (not isinstance(data_dir, str) or not data_dir.strip()):
        raise SpecError(
            f"`data_dir` must be a directory path, e.g. data_dir: docs/data/NAME; got {data_dir!r}"
        )
    common = {"t_max": t_max} if t_max is not None else {}
    common.update(_overrides("with", spec.get("with")))
    configs = _axis(spec, "configs", checkout)
    env_configs = _axis(spec, "env_configs", checkout)
    seeds = _seeds(spec)
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
    return Sweep(runs, Path(data_dir) if data_dir is not None else None)


def load_spec(path: Union[str, Path], checkout: Union[str, Path]) -> Sweep:
    """Read and expand a spec file; every problem is a SpecError naming the file."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpecError(f"cannot read sweep spec {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path} is not valid YAML{where}: {problem}") from None
    try:
        return parse_spec(spec, checkout)
    except SpecError as err:
        raise SpecError(f"sweep spec {path}: {err}") from None
