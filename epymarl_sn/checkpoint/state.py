"""What a checkpoint holds of a run's objects, and how it is put back: in place, into
the objects a new process built the same way, so that every reference between them
(the optimisers' parameters, the fused GRU's weights, the logger's dict that is
Sacred's run info) stays valid.

- random streams: Python's, NumPy's global, torch's (and CUDA's where used);
- the learner, by its attributes (`learner_state`): every torch module's state_dict
  (actor, critic, target critic; the SN layers' u and v are buffers of theirs), every
  optimiser's, the controllers' agents and action selectors, running mean/std
  statistics, and the plain counters (when the critic was last updated, when the
  learner last logged). An attribute of a kind it does not know makes checkpoints
  unavailable for that learner, with one line, rather than leave part of it out;
- the replay buffer's episodes and its position;
- the logger's recent stats and Sacred's run info (EPyMARL's copy of every logged point).
"""

import random
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np
import torch as th

from epymarl_sn.checkpoint import files
from epymarl_sn.errors import CheckpointError

# attributes that are the run's set-up, not its state: rebuilt the same way by a new process
_SETUP = ("args", "logger", "scheme", "n_agents", "n_actions", "device")
_PLAIN = (bool, int, float, str, type(None))


def random_streams() -> dict[str, Any]:
    streams = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
    }
    if th.cuda.is_available() and th.cuda.is_initialized():
        streams["cuda"] = th.cuda.get_rng_state_all()
    return streams


def set_random_streams(streams: Mapping[str, Any]) -> None:
    random.setstate(streams["python"])
    np.random.set_state(streams["numpy"])
    th.set_rng_state(streams["torch"])
    if "cuda" in streams:
        th.cuda.set_rng_state_all(streams["cuda"])


def _is_controller(value: Any) -> bool:
    return isinstance(getattr(value, "agent", None), th.nn.Module) and hasattr(
        value, "action_selector"
    )


def _is_running_stats(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("mean", "var", "count")) and isinstance(
        value.mean, th.Tensor
    )


def _plain_vars(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if isinstance(v, _PLAIN)}


def learner_state(learner: Any) -> dict[str, tuple[str, Any]]:
    """name -> (kind, state) of every attribute of the learner that changes as it
    trains; CheckpointError naming an attribute of a kind it does not know."""
    state: dict[str, tuple[str, Any]] = {}
    for name, value in vars(learner).items():
        # private attributes are caches rebuilt from the rest (e.g. the fused GRU,
        # which shares the actor's weights)
        if name.startswith("_") or name in _SETUP:
            continue
        if isinstance(value, th.nn.Module):
            state[name] = ("module", value.state_dict())
        elif isinstance(value, th.optim.Optimizer):
            state[name] = ("optimiser", value.state_dict())
        elif _is_controller(value):
            selector = _plain_vars(value.action_selector)
            state[name] = ("controller", {"agent": value.agent.state_dict(), "selector": selector})
        elif _is_running_stats(value):
            state[name] = ("stats", {"mean": value.mean, "var": value.var, "count": value.count})
        elif isinstance(value, _PLAIN):
            state[name] = ("value", value)
        elif isinstance(value, (list, tuple)) and all(
            isinstance(p, th.nn.Parameter) for p in value
        ):
            continue  # a module's parameters, restored with it
        elif isinstance(value, SimpleNamespace):
            continue  # a config
        else:
            raise CheckpointError(
                f"the learner {type(learner).__name__}'s attribute {name} "
                f"({type(value).__name__}) is not known to the checkpoint"
            )
    return state


def saved_networks(path: Path) -> dict[str, dict[str, Any]]:
    """The learner's torch modules (name -> state_dict) in the checkpoint at `path`,
    read memory-mapped: the rest of its state (the buffer) is not read into memory."""
    whole = th.load(path / files.STATE, map_location="cpu", weights_only=False, mmap=True)
    return {name: saved for name, (kind, saved) in whole["learner"].items() if kind == "module"}


def set_learner_state(learner: Any, state: Mapping[str, tuple[str, Any]]) -> None:
    for name, (kind, saved) in state.items():
        value = getattr(learner, name)
        if kind in ("module", "optimiser"):
            value.load_state_dict(saved)
        elif kind == "controller":
            value.agent.load_state_dict(saved["agent"])
            for key, item in saved["selector"].items():
                setattr(value.action_selector, key, item)
        elif kind == "stats":
            value.mean.copy_(saved["mean"])
            value.var.copy_(saved["var"])
            value.count = saved["count"]
        else:
            setattr(learner, name, saved)


def buffer_state(buffer: Any) -> dict[str, Any]:
    return {
        "transition_data": buffer.data.transition_data,
        "episode_data": buffer.data.episode_data,
        "buffer_index": buffer.buffer_index,
        "episodes_in_buffer": buffer.episodes_in_buffer,
    }


def set_buffer_state(buffer: Any, state: Mapping[str, Any]) -> None:
    for part in ("transition_data", "episode_data"):
        mine = getattr(buffer.data, part)
        for key, tensor in state[part].items():
            mine[key].copy_(tensor)
    buffer.buffer_index = state["buffer_index"]
    buffer.episodes_in_buffer = state["episodes_in_buffer"]


def logger_state(logger: Any) -> dict[str, Any]:
    return {"stats": dict(logger.stats), "info": dict(logger.sacred_info)}


def set_logger_state(logger: Any, state: Mapping[str, Any]) -> None:
    logger.stats.clear()
    logger.stats.update(state["stats"])
    # Sacred's run info itself (the logger's is the same dict): cleared and filled
    logger.sacred_info.clear()
    logger.sacred_info.update(state["info"])


def logged_metrics(logger: Any) -> dict[str, dict[str, list[Any]]]:
    """Every metric point the run logged to Sacred (name -> steps, values), from
    EPyMARL's copy of them in the run info (`key` and `key_T`)."""
    info = logger.sacred_info
    return {
        key: {"steps": [int(t) for t in info[f"{key}_T"]], "values": [_number(v) for v in values]}
        for key, values in info.items()
        if f"{key}_T" in info and isinstance(values, list)
    }


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _gym_core(env: Any) -> Any:
    """The gymnasium env inside one of EPyMARL's env wrappers: GymmaWrapper holds it as
    `_env`, the SMAClite wrapper as `env`."""
    for attr in ("_env", "env"):
        inner = getattr(env, attr, None)
        if inner is not None and hasattr(inner, "unwrapped"):
            return inner.unwrapped
    raise CheckpointError(
        f"the env {type(env).__name__} has no gymnasium env whose random generator the "
        "checkpoint could save"
    )


def env_random_state(env: Any) -> Optional[dict[str, Any]]:
    """The state of an env's own random generator (gymnasium's np_random; None before
    it has one)."""
    generator = _gym_core(env)._np_random
    return None if generator is None else generator.bit_generator.state


def set_env_random_state(env: Any, saved: Optional[dict[str, Any]]) -> None:
    core = _gym_core(env)
    if saved is None:
        core._np_random = None
        return
    kind = saved["bit_generator"]  # e.g. PCG64, gymnasium's
    if core._np_random is None or type(core._np_random.bit_generator).__name__ != kind:
        core._np_random = np.random.Generator(getattr(np.random, kind)())
    core._np_random.bit_generator.state = saved
