"""`sc2_sparse`: SMAC on StarCraft II with the paper's sparse reward.

Imports smac (and so pysc2): import this module only in a run that uses
`sc2_sparse`; EPyMARL notes that importing both smac and smacv2 breaks pysc2.
Needs EPyMARL's src/ on sys.path (it subclasses EPyMARL's SMAC wrapper).
"""

from collections.abc import Iterable
from typing import Any, Optional

import numpy as np
from envs.smac_wrapper import SMACWrapper
from smac.env import StarCraft2Env

from epymarl_sn.envs.reward import Outcome, SparseReward, SparseRewardTracker

# what SMAC's update_units() returns when a battle is over
SMAC_END_CODES: dict[int, Outcome] = {1: Outcome.WON, -1: Outcome.LOST, 0: Outcome.DRAW}


class SparseStarCraft2Env(StarCraft2Env):
    """SMAC's game and rules; the reward is the sparse one, from SMAC's unit state."""

    def __init__(self, reward: SparseReward, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = SparseRewardTracker(reward, self.n_enemies)
        self._end_code: Optional[int] = None

    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        self._end_code = None
        reset = super().reset()
        # public SMAC's max_reward adds each enemy's health_max + shield_max
        self.tracker.reset(sum(unit.health_max + unit.shield_max for unit in self.enemies.values()))
        return reset

    def update_units(self) -> Optional[int]:
        # SMAC decides the battle here, with its own rules (e.g. on the MMM maps a
        # team left with only Medivacs has lost); keep its verdict for the reward
        self._end_code = super().update_units()
        return self._end_code

    def step(self, actions: Iterable[int]) -> tuple[float, bool, dict[str, Any]]:
        # SMAC's own (dense) reward is dropped
        _, terminated, smac_info = super().step(actions)
        # No end code with terminated: the episode limit, or SMAC restarting the game
        # after losing its connection; neither has a winner
        if self._end_code in SMAC_END_CODES:
            outcome = SMAC_END_CODES[self._end_code]
        else:
            outcome = Outcome.TIMEOUT if terminated else Outcome.ONGOING
        # SMAC sets a dead unit's health to 0 and keeps it in these dicts
        dead_allies = sum(unit.health == 0 for unit in self.agents.values())
        dead_enemies = sum(unit.health == 0 for unit in self.enemies.values())
        reward, info = self.tracker.step(dead_allies, dead_enemies, outcome)
        return reward, terminated, {**smac_info, **info}


class SparseSMACWrapper(SMACWrapper):
    def __init__(self, reward: SparseReward, map_name: str, seed: int, **kwargs: Any) -> None:
        # SMACWrapper.__init__ builds a plain StarCraft2Env; everything else it has
        # works on this subclass unchanged
        self.env = SparseStarCraft2Env(reward, map_name=map_name, seed=seed, **kwargs)
        self.episode_limit = self.env.episode_limit
