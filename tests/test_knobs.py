"""Each component's config keys are defined once, in its schema (epymarl_sn.knobs), which
its declaration in plugin.REGISTRATIONS names: the README's key tables are the schemas',
and the shipped presets and sweep specs hold only keys the schemas know, with values
they allow. The lists here are read from REGISTRATIONS, never kept by hand."""

import re
from dataclasses import MISSING, dataclass
from pathlib import Path

import pytest
import yaml

from epymarl_sn.envs.reward import SparseReward
from epymarl_sn.epymarl_config import EpymarlKeys, GymmaArgs
from epymarl_sn.errors import ConfigError, SpecError
from epymarl_sn.knobs import key_table, keys, knob, parse, settings
from epymarl_sn.plugin import REGISTRATIONS, config_schemas
from epymarl_sn.resources import config_dir
from epymarl_sn.runners.config import VectorKeys, vector_keys
from epymarl_sn.sn.config import SNKeys
from epymarl_sn.sweep.spec import SpecKeys

# the README's table of a run's keys: (schema, prefix of its keys in a run's config)
RUN_KEYS = list(config_schemas())
ROOT = Path(__file__).resolve().parents[1]
# the components an alg preset picks (critic, learner, runner) and those an env preset picks
ALG_COMPONENTS = [r for r in REGISTRATIONS if r.registry != "envs"]
ENV_COMPONENTS = {r.key: r for r in REGISTRATIONS if r.registry == "envs"}


def presets(kind):
    return sorted((config_dir() / kind).glob("*.yaml"))


@pytest.mark.parametrize(
    "heading, schemas",
    [("## Every config key of the plugin", RUN_KEYS), ("A spec:", [(SpecKeys, "")])],
)
def test_the_readmes_key_tables_are_the_schemas(heading, schemas):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(heading) :]
    table = key_table(schemas)
    found = re.search(r"^\| key \| default \| what \|\n(\|.*\n)+", section, re.M)
    assert found is not None, f"no key table after {heading!r}"
    assert found.group(0).rstrip("\n") == table, f"README, under {heading!r}:\n{table}"


def _commented(lines, key):
    """Whether the line setting `key`, or the block of lines it stands in, says why."""
    (at,) = [i for i, line in enumerate(lines) if re.match(rf"\s*{key}:", line)]
    start = at
    while start > 0 and lines[start - 1].strip():
        start -= 1
    return any("#" in line for line in lines[start : at + 1])


def _check_keys(schemas, values, lines, where):
    """`values` sets every key of `schemas` (so that `with KEY=VALUE` can set it: Sacred
    refuses a key no file has) to a value its knob allows, each with a comment."""
    assert schemas, f"{where}: no schema to check"
    for schema, _ in schemas:
        assert set(keys(schema)) <= set(values), f"{where} lacks keys of {schema.__name__}"
        parse(schema, values)
        for s in settings(schema):
            assert _commented(lines, s.key), f"{where}: {s.key} with no comment saying why"


@pytest.mark.parametrize("path", presets("algs"), ids=lambda p: p.stem)
def test_alg_presets_set_every_plugin_key_to_an_allowed_value(path):
    preset = yaml.safe_load(path.read_text())
    lines = path.read_text().splitlines()
    chosen = [r for r in ALG_COMPONENTS if preset.get(r.selector) == r.key]
    # every preset runs the plugin's learner and runner; only mappo_paper another critic
    assert {r.registry for r in chosen} >= {"learners", "runners"}, path.name
    for component in ALG_COMPONENTS:
        if component in chosen:
            _check_keys(component.schemas, preset, lines, path.name)
        else:
            for schema, _ in component.schemas:
                set_anyway = set(keys(schema)) & set(preset)
                assert not set_anyway, f"{path.name}: {set_anyway} without {component.key}"


@pytest.mark.parametrize("path", presets("envs"), ids=lambda p: p.stem)
def test_env_presets_set_every_env_key_to_an_allowed_value(path):
    preset = yaml.safe_load(path.read_text())
    lines = path.read_text().splitlines()
    component = ENV_COMPONENTS[preset["env"]]
    _check_keys(component.schemas, preset["env_args"], lines, path.name)


def test_a_preset_value_outside_the_schema_is_found():
    preset = yaml.safe_load((config_dir() / "envs" / "smaclite_sparse.yaml").read_text())
    bad = {**preset["env_args"], "reward_scale_rate": "50"}
    with pytest.raises(ConfigError, match="^reward_scale_rate: '50' \\(str\\) is not allowed"):
        parse(SparseReward, bad)


def test_parse_says_what_the_knob_says_and_what_this_config_allows():
    # the knob's own word for a value it refuses, and the one-line form with its fix
    with pytest.raises(ConfigError) as err:
        parse(SNKeys, {"critic_sn": "middle"})
    assert str(err.value) == (
        "critic_sn: 'middle' is not a layer choice; allowed: full, mid, last, none or a "
        "list of 1-based layer indices like [2, 3]; set e.g. critic_sn=mid"
    )
    # allowed values that depend on the config's other keys replace the knob's words
    with pytest.raises(ConfigError, match=r"^vector_workers: -1 is not allowed; allowed: 0 to 4;"):
        parse(VectorKeys, {"vector_workers": -1}, allowed={"vector_workers": "0 to 4"})
    with pytest.raises(ConfigError, match=r"^vector_workers: 5 .* to batch_size_run \(4\), or"):
        vector_keys({"vector_workers": 5, "batch_size_run": 4})


@pytest.mark.parametrize("path", presets("sweeps"), ids=lambda p: p.stem)
def test_shipped_sweep_specs_hold_the_spec_keys(path):
    spec = yaml.safe_load(path.read_text())
    assert set(spec) <= set(keys(SpecKeys))
    parse(SpecKeys, spec)


def test_the_schemas_are_read_from_every_registration():
    # a registration that forgets its schemas or its check fails here, not in a run:
    # SNKeys, LearnerKeys, SparseReward, SMACliteOptions, VectorKeys, CheckpointKeys
    assert len(RUN_KEYS) == 6 and len(ENV_COMPONENTS) == 2 and len(ALG_COMPONENTS) == 3
    assert all(r.schemas and r.check for r in REGISTRATIONS)


def test_a_schema_field_that_is_no_knob_is_refused():
    @dataclass(frozen=True)
    class Half:
        good: int = knob(1, allowed="1", help="one", valid=lambda v: v == 1)
        bare: int = 2

    with pytest.raises(TypeError, match="Half.bare is not a knob"):
        settings(Half)


def test_every_knob_has_a_default_that_it_allows_and_help():
    for schema, _ in [*RUN_KEYS, (SpecKeys, ""), (EpymarlKeys, ""), (GymmaArgs, "env_args.")]:
        assert settings(schema), f"{schema.__name__} has no knob"
        for s in settings(schema):
            assert s.knob.help and s.knob.allowed
            assert s.knob.valid(s.example), f"{s.key}: its example is not allowed"
            if s.default is not MISSING:
                assert s.knob.valid(s.default), f"{s.key}: its default is not allowed"


def test_required_spec_keys_are_refused_when_missing():
    def refuse(s, value):
        return SpecError(s.key)

    with pytest.raises(SpecError, match="^seeds$"):
        parse(SpecKeys, {"configs": ["a"], "env_configs": ["b"]}, refuse)
    with pytest.raises(ConfigError, match="^seeds: None is not allowed; allowed: "):
        parse(SpecKeys, {"configs": ["a"], "env_configs": ["b"]})


def test_a_key_whose_block_says_nothing_is_found():
    assert not _commented(["# mine", "a: 1", "", "b: 2", "c: 3"], "c")
    assert _commented(["# why b and c", "b: 2", "c: 3"], "c")
    assert _commented(["b: 2", "c: 3  # the authors' value"], "c")


@pytest.mark.parametrize("path", presets("algs"), ids=lambda p: p.stem)
def test_alg_presets_set_epymarl_keys_to_allowed_values(path):
    preset = yaml.safe_load(path.read_text())
    set_here = [s for s in settings(EpymarlKeys) if s.key in preset]
    assert len(set_here) > 10, f"{path.name}: the schema misses the keys the preset sets"
    for s in set_here:
        assert s.knob.valid(preset[s.key]), f"{path.name}: {s.key}={preset[s.key]!r}"


def test_epymarl_defaults_are_allowed_by_the_schema(epymarl_dir):
    """EPyMARL's own default.yaml and gymma.yaml: what a run gets unless it sets a key."""
    config = epymarl_dir / "src" / "config"
    default = yaml.safe_load((config / "default.yaml").read_text())
    gymma = yaml.safe_load((config / "envs" / "gymma.yaml").read_text())
    for schema, values in ((EpymarlKeys, {**default, **gymma}), (GymmaArgs, gymma["env_args"])):
        for s in settings(schema):
            if s.key in values and s.key != "key":  # gymma leaves the key to the user (null)
                assert s.knob.valid(values[s.key]), f"{s.key}={values[s.key]!r}"
