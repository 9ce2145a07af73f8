"""Critics saved by the SN layer before it was built on torch's spectral-norm
parametrization (commit 92e6459): their state_dicts hold an SN layer's raw weight as
`<layer>.weight` and its power-iteration vectors as `<layer>.u`, `<layer>.v`, where
SNLinear now holds `<layer>.parametrizations.weight.original` and
`<layer>.parametrizations.weight.0._u`, `._v` (and steps u, v in torch's order). Loading
one would stop a run in torch's traceback of missing and unexpected keys; these checks
refuse it in one line before training. torch is imported only where a file is read."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_number

# the last commit whose SNLinear saved the old layout is its parent
CHANGE = "92e6459"


def old_sn_layers(state: Mapping[str, Any]) -> list[str]:
    """The layers of a module's state_dict that the old SNLinear saved: `<layer>.u` and
    `<layer>.v` next to `<layer>.weight`."""
    return sorted(
        key[: -len(".u")]
        for key in state
        if key.endswith(".u")
        and f"{key[: -len('.u')]}.v" in state
        and f"{key[: -len('.u')]}.weight" in state
    )


def refuse_old_layers(state: Mapping[str, Any], where: str, allowed: str, fix: str) -> None:
    """ConfigError in one line where `state` (a module's state_dict, found at `where`)
    was saved by the old SNLinear."""
    layers = old_sn_layers(state)
    if not layers:
        return
    first = layers[0]
    raise ConfigError(
        f"{where} was saved by an older SN layer ({first}.weight, {first}.u, {first}.v: "
        f"SNLinear before commit {CHANGE}, which made it torch's spectral-norm "
        f"parametrization, {first}.parametrizations.weight.original, ...); allowed: "
        f"{allowed}; {fix}"
    )


def loaded_model_dir(config: Mapping[str, Any]) -> Optional[Path]:
    """The directory of saved models that EPyMARL's run_sequential loads for this config
    (`checkpoint_path`, `load_step`), None where it loads none or will say itself why it
    cannot (no such directory, no step in it)."""
    path = config.get("checkpoint_path") or ""
    if not isinstance(path, str) or not path or not os.path.isdir(path):
        return None
    steps = [
        int(name)
        for name in os.listdir(path)
        if name.isdigit() and os.path.isdir(os.path.join(path, name))
    ]
    if not steps:
        return None
    # run_sequential's choice: the last step, or the one closest to load_step
    load_step = config.get("load_step", 0)
    if load_step == 0 or not is_number(load_step):
        step = max(steps)
    else:
        step = min(steps, key=lambda s: abs(s - load_step))
    return Path(path, str(step))


def check_saved_critic(config: Mapping[str, Any]) -> None:
    """Config check: the critic that `checkpoint_path` loads (EPyMARL's model save,
    `critic.th`) was not saved by the old SNLinear."""
    models = loaded_model_dir(config)
    critic = models / "critic.th" if models is not None else None
    if critic is None or not critic.is_file():
        return
    import torch

    state = torch.load(critic, map_location="cpu", weights_only=True)
    refuse_old_layers(
        state,
        f"checkpoint_path: {critic}",
        f"models saved by epymarl-sn since commit {CHANGE}",
        "train the model again, or load it with the epymarl-sn that saved it (before "
        f"commit {CHANGE})",
    )
