"""Each component's config keys are defined once, in its schema (epymarl_sn.knobs): the
README's key tables are the schemas', and the shipped presets and sweep specs hold only
keys the schemas know, with values they allow."""

import re
from dataclasses import MISSING
from pathlib import Path

import pytest
import yaml

from epymarl_sn.checkpoint.config import CheckpointKeys
from epymarl_sn.envs.checks import SMACliteOptions
from epymarl_sn.envs.reward import SparseReward
from epymarl_sn.errors import SpecError
from epymarl_sn.knobs import key_table, keys, parse, settings
from epymarl_sn.resources import config_dir
from epymarl_sn.runners.config import VectorKeys
from epymarl_sn.sn.config import LearnerKeys, SNKeys
from epymarl_sn.sweep.spec import SpecKeys

# the README's tables, in its order: (schema, prefix of its keys in a run's config)
RUN_KEYS = [
    (SNKeys, ""),
    (VectorKeys, ""),
    (SparseReward, "env_args."),
    (SMACliteOptions, "env_args."),
    (LearnerKeys, ""),
    (CheckpointKeys, ""),
]
ROOT = Path(__file__).resolve().parents[1]
ALG_SCHEMAS = (SNKeys, VectorKeys, LearnerKeys, CheckpointKeys)
ENV_SCHEMAS = {"smaclite_sparse": (SparseReward, SMACliteOptions), "sc2_sparse": (SparseReward,)}


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


def _check(schema, values, where):
    def refuse(s, value):
        return AssertionError(f"{where}: {s.key}={value!r} is not {s.knob.allowed}")

    parse(schema, values, refuse)


@pytest.mark.parametrize("path", presets("algs"), ids=lambda p: p.stem)
def test_alg_presets_set_every_plugin_key_to_an_allowed_value(path):
    preset = yaml.safe_load(path.read_text())
    lines = path.read_text().splitlines()
    for schema in ALG_SCHEMAS:
        if schema is SNKeys and preset["critic_type"] != "cv_critic_sn":
            assert not set(keys(SNKeys)) & set(preset), f"{path.name}: SN keys without SN"
            continue
        # every key, so that `with KEY=VALUE` can set it (Sacred refuses a key no file has)
        assert set(keys(schema)) <= set(preset), f"{path.name} lacks keys of {schema.__name__}"
        _check(schema, preset, path.name)
        for s in settings(schema):
            assert _commented(lines, s.key), f"{path.name}: {s.key} with no comment saying why"


@pytest.mark.parametrize("path", presets("envs"), ids=lambda p: p.stem)
def test_env_presets_set_every_env_key_to_an_allowed_value(path):
    preset = yaml.safe_load(path.read_text())
    lines = path.read_text().splitlines()
    env_args = preset["env_args"]
    for schema in ENV_SCHEMAS[preset["env"]]:
        assert set(keys(schema)) <= set(env_args), f"{path.name} lacks keys of {schema.__name__}"
        _check(schema, env_args, path.name)
        for s in settings(schema):
            assert _commented(lines, s.key), f"{path.name}: {s.key} with no comment saying why"


def test_a_preset_value_outside_the_schema_is_found():
    preset = yaml.safe_load((config_dir() / "envs" / "smaclite_sparse.yaml").read_text())
    with pytest.raises(AssertionError, match="reward_scale_rate='50'"):
        _check(SparseReward, {**preset["env_args"], "reward_scale_rate": "50"}, "smaclite")


@pytest.mark.parametrize("path", presets("sweeps"), ids=lambda p: p.stem)
def test_shipped_sweep_specs_hold_the_spec_keys(path):
    spec = yaml.safe_load(path.read_text())
    assert set(spec) <= set(keys(SpecKeys))
    _check(SpecKeys, spec, path.name)


def test_every_knob_has_a_default_that_it_allows_and_help():
    for schema, _ in [*RUN_KEYS, (SpecKeys, "")]:
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


def test_a_key_whose_block_says_nothing_is_found():
    assert not _commented(["# mine", "a: 1", "", "b: 2", "c: 3"], "c")
    assert _commented(["# why b and c", "b: 2", "c: 3"], "c")
    assert _commented(["b: 2", "c: 3  # the authors' value"], "c")
