"""`smaclite_sparse`: EPyMARL's SMAClite env with the paper's sparse reward.

Needs EPyMARL's src/ on sys.path (it subclasses EPyMARL's SMAClite wrapper).
"""

import contextlib
import io
from collections.abc import Iterable
from typing import Any, Optional

import numpy as np
from envs.smaclite_wrapper import SMACliteWrapper

from epymarl_sn.envs.checks import SMACliteOptions
from epymarl_sn.envs.installed import rvo2_installed
from epymarl_sn.envs.reward import SparseReward, SparseRewardTracker, outcome_from_survivors


def smac_episode_limit(map_name: str) -> int:
    """The episode limit SMAC (StarCraft II) uses for the map; SMAClite has none."""
    from smac.env.starcraft2.maps import get_map_params

    return get_map_params(map_name)["limit"]


class SparseSMACliteWrapper(SMACliteWrapper):
    """SMAClite's battle, the sparse reward computed from its own unit state.

    `time_limit: null` takes SMAC's episode limit for the map; `use_cpp_rvo2: auto`
    uses the C++ collision avoidance when it is installed. `state_last_action: False`
    drops the agents' last actions that SMAClite's state always ends with, as SMAC's
    option of that name does on StarCraft II.
    """

    def __init__(
        self,
        reward: SparseReward,
        options: SMACliteOptions,
        map_name: str,
        seed: int,
        **kwargs: Any,
    ) -> None:
        time_limit = options.time_limit
        if time_limit is None:
            time_limit = smac_episode_limit(map_name)
        use_cpp_rvo2 = options.use_cpp_rvo2
        if use_cpp_rvo2 == "auto":
            use_cpp_rvo2 = rvo2_installed()
        # SMAClite prints which collision avoidance it uses, once per env; the runner's
        # log line says it once per run
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(
                map_name=map_name,
                seed=seed,
                time_limit=time_limit,
                use_cpp_rvo2=use_cpp_rvo2,
                **kwargs,
            )
        self.tracker = SparseRewardTracker(reward, self.env.unwrapped.n_enemies)
        game = self.env.unwrapped
        # SMAClite's get_state: allies' and enemies' features, then every agent's
        # one-hot last action (n_agents * n_actions values)
        self.state_size = game.state_size - (
            0 if options.state_last_action else game.n_agents * game.n_actions
        )

    def get_state(self) -> np.ndarray:
        return super().get_state()[: self.state_size]

    def get_state_size(self) -> int:
        return self.state_size

    def reset(
        self, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
    ) -> tuple[Any, dict[str, Any]]:
        reset = super().reset(seed=seed, options=options)
        # SMAClite's own max_reward, like public SMAC's, adds each enemy's hp + shield
        # at the start (its units start at their maximum)
        enemies = self.env.unwrapped.enemies.values()
        self.tracker.reset(sum(unit.max_hp + unit.max_shield for unit in enemies))
        return reset

    def step(
        self, actions: Iterable[int]
    ) -> tuple[list[np.ndarray], float, bool, bool, dict[str, Any]]:
        # SMAClite's own (dense, damage-based) reward is dropped
        obs, _, terminated, truncated, info = super().step(actions)
        game = self.env.unwrapped
        # SMAClite removes dead units from these dicts
        allies_alive, enemies_alive = len(game.agents), len(game.enemies)
        outcome = outcome_from_survivors(allies_alive, enemies_alive, time_up=truncated)
        # SMAClite calls a battle in which both teams die at once won; SMAC and the
        # sparse reward call it a draw, so its battle_won is replaced too
        reward, sparse_info = self.tracker.step(
            game.n_agents - allies_alive, game.n_enemies - enemies_alive, outcome
        )
        return obs, reward, terminated, truncated, {**info, **sparse_info}
