"""The SN critic's config keys: accepted values, and one clear line for each bad one."""

import pytest

from epymarl_sn import plugin
from epymarl_sn.sn.config import check_sn_config, sn_settings

SN = {"critic_type": "cv_critic_sn"}


def test_defaults_are_designs():
    s = sn_settings(SN)
    assert (s.layers, s.normalised, s.k, s.clamp, s.power_iterations, s.stop_grad) == (
        3,
        (2,),
        1.0,
        False,
        1,
        False,
    )


@pytest.mark.parametrize(
    "choice,layers,normalised",
    [
        ("full", 4, (1, 2, 3, 4)),
        ("mid", 4, (2, 3)),
        ("mid", 2, ()),
        ("last", 5, (5,)),
        ("none", 3, ()),
        ([3, 1], 3, (1, 3)),
        ((2,), 2, (2,)),
    ],
)
def test_layer_choices(choice, layers, normalised):
    assert (
        sn_settings({**SN, "critic_sn": choice, "critic_layers": layers}).normalised == normalised
    )


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"critic_sn": "middle"}, "critic_sn"),
        ({"critic_sn": 2}, "critic_sn"),
        ({"critic_sn": None}, "critic_sn"),
        ({"critic_sn": [0]}, "critic_sn"),
        ({"critic_sn": []}, "critic_sn"),  # no layer under an SN preset's name: say none
        ({"critic_sn": [4]}, "critic_sn"),
        ({"critic_sn": [1, 1]}, "critic_sn"),
        ({"critic_sn": [True]}, "critic_sn"),
        ({"critic_sn": [2], "critic_layers": 1}, "critic_layers"),
        ({"critic_layers": 2.0}, "critic_layers"),
        ({"critic_sn_k": 0}, "critic_sn_k"),
        ({"critic_sn_k": -1.0}, "critic_sn_k"),
        ({"critic_sn_k": float("inf")}, "critic_sn_k"),
        ({"critic_sn_k": "1"}, "critic_sn_k"),
        ({"critic_sn_power_iterations": 0}, "critic_sn_power_iterations"),
        ({"critic_sn_power_iterations": 1.5}, "critic_sn_power_iterations"),
        ({"critic_sn_clamp": "yes"}, "critic_sn_clamp"),
        ({"critic_sn_stop_grad": 1}, "critic_sn_stop_grad"),
    ],
)
def test_bad_values_say_what_is_wrong_allowed_and_the_fix(overrides, key):
    with pytest.raises(ValueError) as err:
        check_sn_config({**SN, **overrides})
    message = str(err.value)
    assert message.startswith(f"{key}: ") and "\n" not in message
    assert "allowed:" in message and f"{key}=" in message


def test_checked_when_the_keys_are_set_even_without_the_sn_critic():
    check_sn_config({"critic_type": "cv_critic"})
    with pytest.raises(ValueError, match="critic_sn_k"):
        check_sn_config({"critic_type": "cv_critic", "critic_sn_k": 0})


def test_the_plugins_config_check_includes_the_sn_check():
    assert check_sn_config in plugin.CHECKS
    with pytest.raises(ValueError, match="critic_sn"):
        plugin.check_config({**SN, "critic_sn": "middle"})


def test_parsed_once_per_values_and_typed_values_never_merged():
    config = {**SN, "critic_sn": [3, 2], "critic_sn_clamp": True}
    assert sn_settings(config) is sn_settings(dict(config))
    assert sn_settings(config).normalised == (2, 3) and sn_settings(config).clamp is True
    # 1 == True and hash(1) == hash(True) to Python: a memo keyed by the values would pass 1
    with pytest.raises(ValueError, match="^critic_sn_clamp: 1 is not allowed"):
        sn_settings({**config, "critic_sn_clamp": 1})
    with pytest.raises(ValueError, match=r"^critic_sn_k: True \(bool\) is not allowed"):
        sn_settings({**SN, "critic_sn_k": True})
