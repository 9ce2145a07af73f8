"""The plugin protocol, and the one place that touches EPyMARL's registries.

EPyMARL loads plugins through the patch in `patches/epymarl_plugins.patch`, which
changes `src/main.py` as below (and `src/run.py`'s loop: the hooks a runner may have for
checkpoints, `checkpoint.loop`, and whole-or-absent model saves):

1. Before EPyMARL's own modules are imported, main.py calls every entry point of the group
   `epymarl.plugins` (this package declares `sn = epymarl_sn.plugin:register` in
   setup.py), with EPyMARL's `src/` on sys.path, so a plugin can import EPyMARL's
   modules (`envs`, `learners`, `modules.critics`, ...).
2. Each call returns a `Plugin` (the TypedDict below: the keys main.py reads, each
   optional, with what main.py does with them).

What `register()` adds to EPyMARL's registries is the table `REGISTRATIONS` below, which
register() walks: one `Registration` per key, its component named by import path, with
the config keys the component reads (its schemas, `epymarl_sn.knobs`) and the check run
on every run's config before training. Everything kept per component is derived from
that one declaration: `CHECKS`, the README's table of config keys (`config_schemas`,
checked by tests/test_knobs.py) and the tests' lists of what each preset must set. The
stock `ppo_learner` also works with `critic_type: cv_critic_sn`.

It also silences library noise no user can act on (`quiet_libraries`), makes the
FileStorageObserver of main.py the plugin's (`tracking.files.DurableFileStorageObserver`:
atomic run files and saved models, a full disk stops the run as FAILED, Ctrl-C and
SIGTERM stop it as INTERRUPTED in one line), and has Sacred store `EPYMARL_SN_RAY_NODE`
with the run (`host.ENV`): the Ray
node that `epymarl-sn sweep --ray` ran it on.
"""

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, TypedDict

from epymarl_sn.checkpoint.config import CheckpointKeys, check_resume_config, resumed_from
from epymarl_sn.envs.checks import SMACliteOptions, check_sparse_config
from epymarl_sn.envs.reward import SparseReward
from epymarl_sn.epymarl_config import check_command_files, check_counts, check_known_keys
from epymarl_sn.errors import ConfigError
from epymarl_sn.resources import config_dir
from epymarl_sn.runners.config import VectorKeys, check_vector_config
from epymarl_sn.sn.config import LearnerKeys, SNKeys, check_learner_config, check_sn_config
from epymarl_sn.sn.saved import CHANGE, refuse_old_layers
from epymarl_sn.tracking.store import PID_KEY

if TYPE_CHECKING:
    from sacred.observers import MongoObserver


class Plugin(TypedDict, total=False):
    """What a plugin's `register()` returns to the patched main.py; each key optional."""

    # a directory with algs/ and envs/ YAML files: main.py looks a `--config` /
    # `--env-config` name up in EPyMARL's own src/config/ first, then in the plugins'
    # directories, and exits with one line listing the available names when none has it
    config_dir: str
    # called from a Sacred config hook with the final config (every `with` override
    # applied); a ValueError stops the run before training with `error: <message>`
    check_config: Callable[[dict[str, Any]], None]
    # a Sacred MongoObserver (sub)class, which main.py adds with url=$SACRED_MONGO_URL,
    # db_name=$SACRED_MONGO_DB (default epymarl) when SACRED_MONGO_URL is set
    mongo_observer: "type[MongoObserver]"


# EPyMARL's registries: the module whose REGISTRY dict maps a config value to a component
Registry = Literal["modules.critics", "learners", "envs", "runners"]
# the config key whose value picks a component out of each registry
SELECTORS: "dict[Registry, str]" = {
    "modules.critics": "critic_type",
    "learners": "learner",
    "envs": "env",
    "runners": "runner",
}
# a schema of config keys (a knobs dataclass) and the prefix of its keys in a run's
# config ("env_args." for an env's keys)
Schema = tuple[type, str]
# takes a run's final config and raises ConfigError (a ValueError) with one line
ConfigCheck = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Registration:
    """One key the plugin adds to one of EPyMARL's registries: the component, the
    config keys it reads and their check."""

    registry: Registry
    key: str  # the config value that selects it (critic_type, learner, env, runner)
    component: str  # "module:attribute"; imported by register(), with EPyMARL importable
    what: str
    # the component's keys; a preset that selects it sets every one, one that does not
    # sets none
    schemas: "tuple[Schema, ...]" = ()
    # run on every run's final config (it decides itself whether the run uses the
    # component or sets its keys): the checks between keys that a schema cannot hold
    check: Optional[ConfigCheck] = None

    @property
    def selector(self) -> str:
        return SELECTORS[self.registry]

    def load(self) -> Any:
        module, _, name = self.component.partition(":")
        return getattr(importlib.import_module(module), name)


def check_vector_run(config: Mapping[str, Any]) -> None:
    """The vector runner's keys, and a resumed run's config against its checkpoint and
    the checkpoint's networks against the SN layer this version builds."""
    check_vector_config(config)
    check_resume_config(config)
    path = resumed_from()
    if path is not None:
        from epymarl_sn.checkpoint.state import saved_networks  # torch: a resumed run only

        for name, state in saved_networks(path).items():
            refuse_old_layers(
                state,
                f"cannot resume from {path}: its {name}",
                f"checkpoints written by epymarl-sn since commit {CHANGE}",
                "run it again from the start, or resume it with the epymarl-sn that wrote it "
                f"(before commit {CHANGE})",
            )


REGISTRATIONS: "tuple[Registration, ...]" = (
    Registration(
        "modules.critics",
        "cv_critic_sn",
        "epymarl_sn.sn.critic:SNCentralVCritic",
        "the SN centralised critic",
        ((SNKeys, ""),),
        check_sn_config,
    ),
    Registration(
        "learners",
        "ppo_sn_learner",
        "epymarl_sn.sn.learner:PPOSNLearner",
        "ppo_learner's numbers, faster, plus the SN diagnostics",
        ((LearnerKeys, ""),),
        check_learner_config,
    ),
    Registration(
        "envs",
        "smaclite_sparse",
        "epymarl_sn.envs.factories:smaclite_sparse_fn",
        "SMAClite with the paper's sparse reward",
        ((SparseReward, "env_args."), (SMACliteOptions, "env_args.")),
        check_sparse_config,
    ),
    Registration(
        "envs",
        "sc2_sparse",
        "epymarl_sn.envs.factories:sc2_sparse_fn",
        "SMAC on StarCraft II with the paper's sparse reward",
        ((SparseReward, "env_args."),),
        check_sparse_config,
    ),
    Registration(
        "runners",
        "vector",
        "epymarl_sn.runners.vector:VectorRunner",
        "the parallel runner's episodes, envs stepped by a few workers in shared memory "
        "(RWARE's and SMAClite's all at once by the batched kernels), checkpoints at its "
        "batch boundaries",
        ((VectorKeys, ""), (CheckpointKeys, "")),
        check_vector_run,
    ),
)

# the Ray node id of a sweep's run, in its environment; Sacred stores it (host.ENV)
NODE_ENV = "EPYMARL_SN_RAY_NODE"


def _unique(items: "list[Any]") -> "tuple[Any, ...]":
    return tuple(dict.fromkeys(items))


# the checks that need the config only (not what is installed: StarCraft II, SMAClite's
# RVO2): a sweep runs them on each of its runs' configs before it starts any
CONFIG_CHECKS: "tuple[ConfigCheck, ...]" = (
    check_counts,
    *_unique([r.check for r in REGISTRATIONS if r.check not in (None, check_sparse_config)]),
)
# every check before a run: EPyMARL's keys, each component's check (once, though both
# sparse envs share theirs), an unknown key last (a check of a known key may say more,
# e.g. the authors' env_args.reward_death)
CHECKS: "tuple[ConfigCheck, ...]" = (
    check_counts,
    *_unique([r.check for r in REGISTRATIONS if r.check is not None]),
    check_known_keys,
)


def config_schemas() -> "tuple[Schema, ...]":
    """Every schema of the plugin's config keys, once, in REGISTRATIONS' order: the
    README's table of config keys."""
    return _unique([schema for r in REGISTRATIONS for schema in r.schemas])


def check_config(config: dict[str, Any]) -> None:
    """Every check of the plugin's config keys, run before a run starts."""
    for check in CHECKS:
        check(config)


def quiet_libraries() -> None:
    """Silence what libraries print in every run that no user can act on, so that the
    run's own lines come first; every other warning still shows."""
    # GitPython's DEBUG lines for each git call Sacred makes to record the checkout's
    # commit (EPyMARL's logger sets the root level to DEBUG)
    logging.getLogger("git").setLevel(logging.INFO)
    # EPyMARL's notes on its optional env families, unless the command asks for one
    # (their gym keys start pz- and vmas-)
    command = " ".join(sys.argv)
    for family, key in (("PettingZoo", "pz-"), ("VMAS", "vmas-")):
        if key not in command:
            warnings.filterwarnings("ignore", message=f"{family} is not installed")
    # PyTorch's deprecation of list indexing, raised in EPyMARL's episode buffer
    warnings.filterwarnings(
        "ignore",
        message="Using a non-tuple sequence for multidimensional indexing is deprecated",
        category=UserWarning,
    )


def check_command() -> None:
    """The config files of the command running EPyMARL's main.py (`--config`,
    `--env-config`, a file after `with`), checked before main.py and Sacred read
    them: a syntax error there stops the run with one `error:` line, as a bad value."""
    main = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    if os.path.basename(main) != "main.py":
        return  # loaded by something else than EPyMARL's main.py
    dirs = [os.path.join(os.path.dirname(os.path.abspath(main)), "config"), str(config_dir())]
    try:
        check_command_files(sys.argv, dirs)
    except ConfigError as err:
        sys.exit(f"error: {err}")


def register() -> Plugin:
    """Add the plugin's components to EPyMARL's registries (REGISTRATIONS) and return
    the rest of the protocol (see the module docstring)."""
    quiet_libraries()
    check_command()
    # EPyMARL's modules are importable only with its src/ on sys.path, as in main.py;
    # the MongoObserver is imported here too: it loads Sacred, which the `epymarl-sn`
    # commands do not need
    from sacred import SETTINGS, host_info

    from epymarl_sn.tracking.files import install_file_storage
    from epymarl_sn.tracking.observer import TrackingMongoObserver

    for entry in REGISTRATIONS:
        registry = importlib.import_module(entry.registry).REGISTRY
        registry[entry.key] = entry.load()
    install_file_storage()
    # the run's process (host.pid): whether a RUNNING run still runs is asked of it,
    # not only told by its heartbeat's age (tracking.store.Run.stale_s)
    host_info.host_info_gatherers.setdefault(PID_KEY, os.getpid)
    # a sweep on Ray names the node that ran each run (host.ENV of the stored run)
    if NODE_ENV not in SETTINGS.HOST_INFO.CAPTURED_ENV:
        SETTINGS.HOST_INFO.CAPTURED_ENV.append(NODE_ENV)
    return {
        "config_dir": str(config_dir()),
        "check_config": check_config,
        "mongo_observer": TrackingMongoObserver,
    }
