"""The plugin protocol, and the one place that touches EPyMARL's registries.

EPyMARL loads plugins through the patch in `patches/epymarl_plugins.patch`, which
changes only `src/main.py`:

1. Before EPyMARL's own modules are imported, main.py calls every entry point of the group
   `epymarl.plugins` (this package declares `sn = epymarl_sn.plugin:register` in
   setup.py), with EPyMARL's `src/` on sys.path, so a plugin can import EPyMARL's
   modules (`envs`, `learners`, `modules.critics`, ...).
2. Each call returns a dict, which may hold:
   - `config_dir`: a directory with `algs/` and `envs/` YAML files. main.py looks
     a `--config` / `--env-config` name up in EPyMARL's own `src/config/` first,
     then in the plugins' directories, and exits with one line listing the
     available names when none has it.
   - `check_config(config)`: called from a Sacred config hook with the final config
     (every `with` override applied); a ValueError stops the run before training
     with `error: <message>`.
   - `mongo_observer`: a Sacred MongoObserver (sub)class, which main.py adds with
     `url=$SACRED_MONGO_URL, db_name=$SACRED_MONGO_DB (default epymarl)` when
     SACRED_MONGO_URL is set.

What `register()` adds to EPyMARL's registries:

| registry | key | what |
|---|---|---|
| `modules.critics.REGISTRY` | `cv_critic_sn` | the SN centralised critic (`sn.critic`) |
| `learners.REGISTRY` | `ppo_sn_learner` | ppo_learner's numbers, faster, plus the SN |
| | | diagnostics (`sn.learner`) |
| `envs.REGISTRY` | `smaclite_sparse` | SMAClite with the paper's sparse reward |
| `envs.REGISTRY` | `sc2_sparse` | SMAC on StarCraft II with the paper's sparse reward |
| `runners.REGISTRY` | `vector` | the parallel runner's episodes, envs stepped by a few |
| | | workers in shared memory (`runners.vector`) |

The stock `ppo_learner` also works with `critic_type: cv_critic_sn`.

It also silences library noise no user can act on (`quiet_libraries`), makes the
FileStorageObserver of main.py the plugin's (`tracking.files.DurableFileStorageObserver`:
atomic run files and saved models, a full disk stops the run as FAILED, Ctrl-C and
SIGTERM stop it as INTERRUPTED in one line), and has Sacred store `EPYMARL_SN_RAY_NODE`
with the run (`host.ENV`): the Ray
node that `epymarl-sn sweep --ray` ran it on.
"""

import logging
import sys
import warnings
from typing import Any, Callable

from epymarl_sn.envs.checks import check_sparse_config
from epymarl_sn.epymarl_config import check_counts, check_known_keys
from epymarl_sn.resources import config_dir
from epymarl_sn.runners.config import check_vector_config
from epymarl_sn.sn.config import check_learner_config, check_sn_config

# the Ray node id of a sweep's run, in its environment; Sacred stores it (host.ENV)
NODE_ENV = "EPYMARL_SN_RAY_NODE"

# each takes the final config and raises ConfigError (a ValueError) with one line
# (an unknown key last: a check of a known key may say more, e.g. the authors'
# env_args.reward_death)
CHECKS: "tuple[Callable[[dict[str, Any]], None], ...]" = (
    check_counts,
    check_sn_config,
    check_learner_config,
    check_sparse_config,
    check_vector_config,
    check_known_keys,
)


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


def register() -> dict[str, Any]:
    """Add the plugin's components to EPyMARL's registries (see the module docstring)."""
    quiet_libraries()
    # EPyMARL's modules are importable only with its src/ on sys.path, as in main.py;
    # the MongoObserver is imported here too: it loads Sacred, which the `epymarl-sn`
    # commands do not need
    from envs import REGISTRY as envs
    from learners import REGISTRY as learners
    from modules.critics import REGISTRY as critics
    from runners import REGISTRY as runners
    from sacred import SETTINGS

    from epymarl_sn.envs.factories import sc2_sparse_fn, smaclite_sparse_fn
    from epymarl_sn.runners.vector import VectorRunner
    from epymarl_sn.sn.critic import SNCentralVCritic
    from epymarl_sn.sn.learner import PPOSNLearner
    from epymarl_sn.tracking.files import install_file_storage
    from epymarl_sn.tracking.observer import TrackingMongoObserver

    critics["cv_critic_sn"] = SNCentralVCritic
    learners["ppo_sn_learner"] = PPOSNLearner
    envs["smaclite_sparse"] = smaclite_sparse_fn
    envs["sc2_sparse"] = sc2_sparse_fn
    runners["vector"] = VectorRunner
    install_file_storage()
    # a sweep on Ray names the node that ran each run (host.ENV of the stored run)
    if NODE_ENV not in SETTINGS.HOST_INFO.CAPTURED_ENV:
        SETTINGS.HOST_INFO.CAPTURED_ENV.append(NODE_ENV)
    return {
        "config_dir": str(config_dir()),
        "check_config": check_config,
        "mongo_observer": TrackingMongoObserver,
    }
