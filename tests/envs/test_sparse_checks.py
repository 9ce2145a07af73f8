"""The sparse envs' config is checked before a run: one line per problem, with the fix."""

import pytest
import yaml

from epymarl_sn.envs import checks
from epymarl_sn.envs.checks import check_sparse_config
from epymarl_sn.resources import config_dir

from helpers import PAPER_SPARSE_REWARD


def preset(name, **env_args):
    """The plugin's env preset as EPyMARL reads it, with env_args overrides."""
    config = yaml.safe_load((config_dir() / "envs" / f"{name}.yaml").read_text())
    config["env_args"].update(env_args)
    return {"common_reward": True, **config}


def error(config):
    with pytest.raises(ValueError) as err:
        check_sparse_config(config)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.fixture
def no_sc2(tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "StarCraftII"))
    return tmp_path / "StarCraftII"


@pytest.fixture
def sc2_without_maps(tmp_path, monkeypatch):
    sc2 = tmp_path / "StarCraftII"
    binary = sc2 / "Versions" / "Base75689" / "SC2_x64"
    binary.parent.mkdir(parents=True)
    binary.touch()
    monkeypatch.setenv("SC2PATH", str(sc2))
    return sc2


@pytest.fixture
def smac3(tmp_path, monkeypatch):
    """PyPI's `smac` (SMAC3) found first on sys.path, as pip would install it."""
    site = tmp_path / "site"
    dist = site / "smac-2.0.2.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: smac\nVersion: 2.0.2\n")
    (dist / "RECORD").write_text("smac/__init__.py,,\nsmac/facade/__init__.py,,\n")
    monkeypatch.syspath_prepend(str(site))


def test_presets_pass_and_hold_the_paper_reward(sc2_without_maps):
    (sc2_without_maps / "Maps" / "SMAC_Maps").mkdir(parents=True)
    (sc2_without_maps / "Maps" / "SMAC_Maps" / "3s5z_vs_3s6z.SC2Map").touch()
    for name, env in (("sc2_sparse", "sc2_sparse"), ("smaclite_sparse", "smaclite_sparse")):
        config = preset(name)
        assert config["env"] == env
        assert config["env_args"]["map_name"] == "3s5z_vs_3s6z"
        reward = {k: v for k, v in config["env_args"].items() if k.startswith("reward")}
        assert reward == PAPER_SPARSE_REWARD
        assert "t_max" not in config
        check_sparse_config(config)


def test_other_envs_are_not_checked():
    check_sparse_config({"env": "sc2", "env_args": {"reward_death": 10, "map_name": "nope"}})


def test_starcraft_not_found(no_sc2):
    message = error(preset("sc2_sparse"))
    assert f"StarCraft II not found in {no_sc2}" in message
    assert f"SC2PATH={no_sc2}" in message
    assert "docker" in message and "smaclite_sparse" in message


def test_starcraft_found_without_the_smac_maps(sc2_without_maps):
    message = error(preset("sc2_sparse", map_name="corridor"))
    assert f"StarCraft II found in {sc2_without_maps}" in message
    assert str(sc2_without_maps / "Maps" / "SMAC_Maps" / "corridor.SC2Map") in message
    assert "SMAC_Maps.zip" in message


def test_smac3_in_place_of_smac(smac3, no_sc2):
    message = error(preset("sc2_sparse"))
    assert "SMAC3" in message and "pip uninstall smac" in message


@pytest.mark.parametrize(
    "env, some_maps",
    [
        ("sc2_sparse", ["3m", "27m_vs_30m", "corridor"]),
        ("smaclite_sparse", ["2s3z", "27m_vs_30m", "corridor"]),
    ],
)
def test_unknown_map_lists_the_maps(no_sc2, env, some_maps):
    message = error(preset(env, map_name="27m_vs_31m"))
    assert "unknown map '27m_vs_31m'" in message
    assert all(m in message for m in some_maps)


@pytest.mark.parametrize("env", ["sc2_sparse", "smaclite_sparse"])
@pytest.mark.parametrize(
    "key, value, expected",
    [
        (
            "reward_win",
            "lots",
            "env_args.reward_win: 'lots' (str) is not allowed; allowed: a number",
        ),
        (
            "reward_death_value",
            True,
            "env_args.reward_death_value: True (bool) is not allowed; allowed: a number",
        ),
        ("reward_defeat", None, "env_args.reward_defeat: None is not allowed; allowed: a number"),
        (
            "reward_scale",
            "yes",
            "env_args.reward_scale: 'yes' (str) is not allowed; allowed: True or False",
        ),
        ("reward_death", 10, "env_args.reward_death_value"),
        (
            "reward_ally_death_value",
            "5",
            "env_args.reward_ally_death_value: '5' (str) is not allowed",
        ),
        (
            "reward_scale_divisor",
            "health",
            (
                "env_args.reward_scale_divisor: 'health' is not allowed; allowed: one of smac, "
                "sparse (smac: public SMAC's max_reward, with the enemies' health and shields; "
                "sparse: without them); set e.g. env_args.reward_scale_divisor=smac"
            ),
        ),
    ],
)
def test_reward_options_of_the_wrong_type(no_sc2, env, key, value, expected):
    assert expected in error(preset(env, **{key: value}))


def test_scaling_needs_a_positive_divisor(no_sc2):
    message = error(preset("smaclite_sparse", reward_scale=True, reward_win=0))
    assert "reward_win > 0" in message


def test_smac_dense_reward_options_are_refused(no_sc2):
    message = error(preset("sc2_sparse", reward_only_positive=False))
    assert "reward_only_positive" in message and "remove it" in message


@pytest.mark.parametrize(
    "env_args, expected",
    [
        (
            {"time_limit": 0},
            "env_args.time_limit: 0 is not allowed; allowed: a positive number of steps",
        ),
        (
            {"use_cpp_rvo2": "fast"},
            "env_args.use_cpp_rvo2: 'fast' is not allowed; allowed: True, False or auto",
        ),
        (
            {"state_last_action": "no"},
            "env_args.state_last_action: 'no' (str) is not allowed; allowed: True or False",
        ),
        ({"map_nmae": "2s3z"}, "unknown env_args.map_nmae for smaclite_sparse"),
    ],
)
def test_smaclite_options(env_args, expected):
    assert expected in error(preset("smaclite_sparse", **env_args))


def test_common_reward_only():
    config = {**preset("smaclite_sparse"), "common_reward": False}
    assert "common_reward=True" in error(config)


def test_cpp_rvo2_missing(monkeypatch, capsys):
    monkeypatch.setattr(checks, "rvo2_installed", lambda: False)
    assert "use_cpp_rvo2=auto" in error(preset("smaclite_sparse", use_cpp_rvo2=True))
    check_sparse_config(preset("smaclite_sparse", use_cpp_rvo2="auto"))
    (line,) = capsys.readouterr().err.splitlines()
    assert "numpy port" in line
    check_sparse_config(preset("smaclite_sparse", use_cpp_rvo2=False))
    assert capsys.readouterr().err == ""


def test_a_new_sparse_env_plugs_in_with_its_own_check(monkeypatch):
    seen = []
    monkeypatch.setitem(checks.SPARSE_ENVS, "toy_sparse", seen.append)
    check_sparse_config({"env": "toy_sparse", "env_args": {"map_name": "x"}})
    assert seen == [{"map_name": "x"}]
    # the reward's keys are checked for every sparse env, before the env's own check
    assert "env_args.reward_win: 'lots' (str) is not allowed" in error(
        {"env": "toy_sparse", "env_args": {"reward_win": "lots"}}
    )
    assert seen == [{"map_name": "x"}]
