"""The SN critic's config keys (DESIGN.md, "SN critic config keys"): parsing and checks."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_int, is_number

DEFAULTS = {
    "critic_sn": "mid",
    "critic_layers": 3,
    "critic_sn_k": 1.0,
    "critic_sn_clamp": False,
    "critic_sn_power_iterations": 1,
    "critic_sn_stop_grad": False,
}
LAYER_CHOICES = ("full", "mid", "last", "none")

# ppo_sn_learner's key: run the actor's GRU over the whole sequence with an nn.GRU that
# shares the GRUCell's weights (faster; forwards equal, gradients not bit for bit:
# docs/benchmarks_learner.md); off, the learner's numbers equal ppo_learner's exactly
FUSED_GRU = "fused_gru"
FUSED_GRU_DEFAULT = False


@dataclass(frozen=True)
class SNSettings:
    layers: int  # depth of the critic MLP
    normalised: tuple[int, ...]  # 1-based indices of the spectrally normalised layers
    k: float
    clamp: bool
    power_iterations: int
    stop_grad: bool


def _int_at_least(key: str, value: Any, minimum: int, example: int, note: str = "") -> int:
    if not is_int(value) or value < minimum:
        raise ConfigError(
            f"{key}: {value!r} is not allowed; allowed: an integer >= {minimum}{note}; "
            f"set e.g. {key}={example}"
        )
    return value


def _normalised(choice: Any, layers: int) -> tuple[int, ...]:
    """The 1-based indices that `critic_sn` selects in a critic of `layers` layers."""
    if choice == "full":
        return tuple(range(1, layers + 1))
    if choice == "mid":
        return tuple(range(2, layers))
    if choice == "last":
        return (layers,)
    if choice == "none":
        return ()
    if not isinstance(choice, (list, tuple)) or not all(is_int(i) for i in choice):
        raise ConfigError(
            f"critic_sn: {choice!r} is not a layer choice; allowed: "
            f"{', '.join(LAYER_CHOICES)} or a list of 1-based layer indices like [2, 3]; "
            "set e.g. critic_sn=mid"
        )
    if not choice:
        raise ConfigError(
            "critic_sn: [] selects no layer; allowed: full, mid, last, none (no SN) or a "
            "non-empty list of 1-based layer indices; set e.g. critic_sn=none or critic_sn=[2]"
        )
    for i in choice:
        if not 1 <= i <= layers:
            deeper = f" or critic_layers={i}" if i > layers else ""
            raise ConfigError(
                f"critic_sn: layer index {i} is out of range for critic_layers={layers}; "
                f"allowed: 1-based indices from 1 to {layers}; "
                f"set e.g. critic_sn=[{layers}]{deeper}"
            )
    if len(set(choice)) != len(choice):
        raise ConfigError(
            f"critic_sn: {list(choice)} repeats a layer; allowed: each index once; "
            f"set e.g. critic_sn={sorted(set(choice))}"
        )
    return tuple(sorted(choice))


def _k(value: Any) -> float:
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"critic_sn_k: {value!r} is not allowed; allowed: a finite number > 0 "
            "(the target spectral norm); set e.g. critic_sn_k=1.0"
        )
    return float(value)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(
            f"{key}: {value!r} is not allowed; allowed: True or False; set e.g. {key}=False"
        )
    return value


def sn_settings(config: Mapping[str, Any]) -> "SNSettings":
    """Parse the SN keys of a config dict (missing keys take DEFAULTS); ConfigError if bad."""
    values = {key: config.get(key, default) for key, default in DEFAULTS.items()}
    layers = _int_at_least(
        "critic_layers", values["critic_layers"], 2, 3, note=" (the paper uses 3)"
    )
    return SNSettings(
        layers=layers,
        normalised=_normalised(values["critic_sn"], layers),
        k=_k(values["critic_sn_k"]),
        clamp=_flag("critic_sn_clamp", values["critic_sn_clamp"]),
        power_iterations=_int_at_least(
            "critic_sn_power_iterations", values["critic_sn_power_iterations"], 1, 1
        ),
        stop_grad=_flag("critic_sn_stop_grad", values["critic_sn_stop_grad"]),
    )


def check_sn_config(config: Mapping[str, Any]) -> None:
    """Config check (see config_checks): the SN keys, where the run uses or sets them."""
    if config.get("critic_type") == "cv_critic_sn" or any(key in config for key in DEFAULTS):
        sn_settings(config)


def fused_gru(config: Mapping[str, Any]) -> bool:
    """`fused_gru` of a config dict (FUSED_GRU_DEFAULT when missing); ConfigError if bad."""
    value = _flag(FUSED_GRU, config.get(FUSED_GRU, FUSED_GRU_DEFAULT))
    # the agent whose GRUCell an nn.GRU can replace: EPyMARL's rnn agent on basic_mac
    actor = {"mac": "basic_mac", "agent": "rnn", "use_rnn": True}
    for key, needed in actor.items():
        if value and config.get(key, needed) != needed:
            raise ConfigError(
                f"fused_gru: True is not allowed with {key}={config.get(key)!r}; allowed: "
                "True only with mac=basic_mac, agent=rnn, use_rnn=True (EPyMARL's GRU "
                "agent); set fused_gru=False"
            )
    return value


def check_learner_config(config: Mapping[str, Any]) -> None:
    """Config check (see config_checks): `fused_gru`, where the run sets it."""
    if FUSED_GRU in config:
        fused_gru(config)


def critic_sn_of(config: Mapping[str, Any]) -> Any:
    """The `critic_sn` a run's config stands for: `none` when its critic is not the SN
    critic (`mappo_paper`, EPyMARL's own configs), else the key or its default."""
    if config.get("critic_type") != "cv_critic_sn":
        return "none"
    return config.get("critic_sn", DEFAULTS["critic_sn"])
