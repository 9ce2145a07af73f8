"""The `sc2_sparse` and `smaclite_sparse` entries of EPyMARL's env registry.

EPyMARL calls them with env_args plus `common_reward`, `reward_scalarisation` and
`seed`; the parallel runner calls them in its env subprocesses, where a failure
would hang the run, so every user-facing check is in envs/checks.py, before the run.
"""

from typing import Any

from epymarl_sn.envs.checks import SMACliteOptions
from epymarl_sn.envs.reward import SparseReward
from epymarl_sn.knobs import pop


def _prepare(kwargs: dict[str, Any]) -> tuple[SparseReward, dict[str, Any]]:
    # EPyMARL's own SMAC kwargs handling: one common reward, map_name required.
    # Module-level, so its leading "__" is no name mangling; a plain import works.
    from envs import __check_and_prepare_smac_kwargs as prepare_smac_kwargs

    kwargs = prepare_smac_kwargs(kwargs)
    # the rest goes to the simulator
    return pop(SparseReward, kwargs), kwargs


def smaclite_sparse_fn(**kwargs: Any) -> Any:
    from epymarl_sn.envs.smaclite import SparseSMACliteWrapper

    reward, kwargs = _prepare(kwargs)
    return SparseSMACliteWrapper(reward, pop(SMACliteOptions, kwargs), **kwargs)


def sc2_sparse_fn(**kwargs: Any) -> Any:
    # smac is imported only here, in a run that uses StarCraft II
    from epymarl_sn.envs.sc2 import SparseSMACWrapper

    reward, kwargs = _prepare(kwargs)
    return SparseSMACWrapper(reward, **kwargs)
