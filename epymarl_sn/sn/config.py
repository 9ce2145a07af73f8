"""The SN critic's config keys and the learner's `fused_gru`: their schemas, parsing
and checks."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from epymarl_sn.errors import ConfigError
from epymarl_sn.knobs import boolean, defaults, integer, keys, knob, parse
from epymarl_sn.sn.saved import check_saved_critic
from epymarl_sn.values import is_int, is_number

LAYER_CHOICES = ("full", "mid", "last", "none")


def _layer_choice(value: Any) -> bool:
    """A named choice, or a list of integers (each checked against critic_layers later)."""
    if isinstance(value, (list, tuple)):
        return all(is_int(i) for i in value)
    return value in LAYER_CHOICES


def _positive_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class SNKeys:
    """The SN critic's keys (`critic_type: cv_critic_sn`), as a run's config gives them."""

    critic_sn: Union[str, list[int], tuple[int, ...]] = knob(
        "mid",
        allowed=f"{', '.join(LAYER_CHOICES)} or a list of 1-based layer indices like [2, 3]",
        help=(
            "which critic layers are spectrally normalised (with `critic_type: "
            "cv_critic_sn`): `full`, `mid`, `last`, `none` or a list of 1-based layer "
            "indices; a run whose critic is not `cv_critic_sn` (`mappo_paper`) counts as "
            "`none` in `runs`, `plot` and `board`"
        ),
        valid=_layer_choice,
        wrong="is not a layer choice",
    )
    critic_layers: int = knob(
        3,
        allowed="an integer >= 2 (the paper uses 3)",
        help="depth of the critic MLP (int >= 2)",
        valid=integer(2),
    )
    critic_sn_k: float = knob(
        1.0,
        allowed="a finite number > 0 (the target spectral norm)",
        help=(
            "target spectral norm of each normalised layer (float > 0); with 1.0 (and "
            "clamp, stop_grad off) a layer is torch's `spectral_norm`, the authors' layer, "
            "value for value"
        ),
        valid=_positive_finite,
    )
    critic_sn_clamp: bool = knob(
        False,
        allowed="True or False",
        help=(
            "False: W_hat = k W / sigma(W) (norm exactly k, eq. 5). True: W_hat = W min(1, "
            "k / sigma(W)) (norm <= k, eq. 6 read as a bound)"
        ),
        valid=boolean,
    )
    critic_sn_power_iterations: int = knob(
        1,
        allowed="an integer >= 1",
        help=(
            "power-iteration steps per training forward (int >= 1), as torch's "
            "`spectral_norm`: u, then v, from a random start (drawn when the critic is "
            "made) and 15 steps"
        ),
        valid=integer(1),
    )
    critic_sn_stop_grad: bool = knob(
        False,
        allowed="True or False",
        help=(
            "True: sigma is a constant for back-propagation (the paper's §IV, eq. 18); "
            "False: the gradient flows through sigma (Miyato et al., torch's default)"
        ),
        valid=boolean,
    )


@dataclass(frozen=True)
class LearnerKeys:
    """`ppo_sn_learner`'s key."""

    # run the actor's GRU over the whole sequence with an nn.GRU that shares the
    # GRUCell's weights (faster; forwards equal, gradients not bit for bit); off, the
    # learner's numbers equal ppo_learner's exactly
    fused_gru: bool = knob(
        False,
        allowed="True or False",
        help=(
            "the learner runs the actor's GRU as one `nn.GRU` over the sequence: faster, "
            "not exact (parameters differ by ~5e-7 relative per update; "
            "[docs/benchmarks_learner.md](docs/benchmarks_learner.md))"
        ),
        valid=boolean,
    )


DEFAULTS = defaults(SNKeys)


@dataclass(frozen=True)
class SNSettings:
    """The SN critic's settings, parsed from SNKeys: what the critic builds."""

    layers: int  # depth of the critic MLP
    normalised: tuple[int, ...]  # 1-based indices of the spectrally normalised layers
    k: float
    clamp: bool
    power_iterations: int
    stop_grad: bool


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


# parsed settings by the reprs of their keys' values (repr tells True from 1 and 1.0):
# the settings check_sn_config makes are the very object the critic gets
_parsed: dict[str, SNSettings] = {}


def sn_settings(config: Mapping[str, Any]) -> SNSettings:
    """The SN settings of a config dict (missing keys take SNKeys' defaults), parsed once
    per process for the same values; ConfigError if bad."""
    memo = repr([config.get(key, default) for key, default in DEFAULTS.items()])
    if memo not in _parsed:
        values = parse(SNKeys, config)
        _parsed[memo] = SNSettings(
            layers=values.critic_layers,
            normalised=_normalised(values.critic_sn, values.critic_layers),
            k=float(values.critic_sn_k),
            clamp=values.critic_sn_clamp,
            power_iterations=values.critic_sn_power_iterations,
            stop_grad=values.critic_sn_stop_grad,
        )
    return _parsed[memo]


def check_sn_config(config: Mapping[str, Any]) -> None:
    """Config check (see config_checks): the SN keys, where the run uses or sets them;
    the critic that `checkpoint_path` loads, where it was saved by the old SN layer."""
    if config.get("critic_type") == "cv_critic_sn" or any(key in config for key in DEFAULTS):
        sn_settings(config)
    check_saved_critic(config)


def fused_gru(config: Mapping[str, Any]) -> bool:
    """`fused_gru` of a config dict (LearnerKeys' default when missing); ConfigError if bad."""
    value = parse(LearnerKeys, config).fused_gru
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
    if any(key in config for key in keys(LearnerKeys)):
        fused_gru(config)


def critic_sn_of(config: Mapping[str, Any]) -> Any:
    """The `critic_sn` a run's config stands for: `none` when its critic is not the SN
    critic (`mappo_paper`, EPyMARL's own configs), else the key or its default."""
    if config.get("critic_type") != "cv_critic_sn":
        return "none"
    return config.get("critic_sn", DEFAULTS["critic_sn"])
