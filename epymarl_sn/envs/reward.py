"""The paper's sparse SMAC reward (§VI-B), shared by the StarCraft II and SMAClite envs.

    r_t = reward_death_value * (enemies killed at t)
        - reward_ally_death_value * (allies lost at t)
        + reward_win * [battle won at t] + reward_defeat * [battle lost at t]

No health or damage terms; a draw (both teams wiped out) or a time-out gets no
terminal term. With `reward_scale: True` every r_t is divided by
divisor / reward_scale_rate, where the divisor is (`reward_scale_divisor`)

    smac:    n_enemies * reward_death_value + reward_win
             + the enemies' maximum health and shields, summed
             (public SMAC's max_reward, also SMAClite's)
    sparse:  n_enemies * reward_death_value + reward_win
             (so killing every enemy and winning without a loss sums to the rate)
"""

import enum
from dataclasses import dataclass
from typing import Optional, Union

from epymarl_sn.knobs import boolean, knob, number, one_of

DIVISORS = ("smac", "sparse")


class Outcome(enum.Enum):
    ONGOING = "ongoing"
    WON = "won"
    LOST = "lost"
    DRAW = "draw"
    TIMEOUT = "timeout"


def outcome_from_survivors(allies_alive: int, enemies_alive: int, time_up: bool) -> Outcome:
    """SMAC's rule: a team wins when the other is wiped out and it is not."""
    if enemies_alive == 0:
        return Outcome.DRAW if allies_alive == 0 else Outcome.WON
    if allies_alive == 0:
        return Outcome.LOST
    return Outcome.TIMEOUT if time_up else Outcome.ONGOING


_NUMBER = "a number"
_FLAG = "True or False"


@dataclass(frozen=True)
class SparseReward:
    """The reward's settings: the schema of the sparse envs' env_args keys that belong
    to the reward, with their defaults (the envs' presets repeat them, each with its
    source)."""

    reward_death_value: float = knob(
        10,  # §VI-B
        allowed=_NUMBER,
        help="sparse reward per enemy killed (`sc2_sparse`, `smaclite_sparse`)",
        valid=number,
    )
    reward_ally_death_value: float = knob(
        10,  # §VI-B
        allowed=_NUMBER,
        help="sparse penalty per ally lost",
        valid=number,
    )
    reward_win: float = knob(
        200,  # §VI-B
        allowed=_NUMBER,
        help="sparse reward for a won battle",
        valid=number,
    )
    reward_defeat: float = knob(
        -200,  # §VI-B
        allowed=_NUMBER,
        help="sparse reward for a lost battle",
        valid=number,
    )
    reward_scale: bool = knob(
        True,  # the authors' sc2_sparse.yaml; the paper is silent
        allowed=_FLAG,
        help="divide every reward by divisor / `reward_scale_rate`",
        valid=boolean,
    )
    reward_scale_rate: float = knob(
        50,  # the authors' sc2_sparse.yaml
        allowed=_NUMBER,
        help="what a flawless win sums to with the `sparse` divisor",
        valid=number,
    )
    reward_scale_divisor: str = knob(
        "smac",
        allowed=(
            f"one of {', '.join(DIVISORS)} (smac: public SMAC's max_reward, with the "
            "enemies' health and shields; sparse: without them)"
        ),
        help=(
            "`smac` (public SMAC's max_reward, with enemy health and shields) or `sparse` (without)"
        ),
        valid=one_of(*DIVISORS),
    )

    def unscaled(self, enemies_killed: int, allies_lost: int, outcome: Outcome) -> float:
        terminal = {Outcome.WON: self.reward_win, Outcome.LOST: self.reward_defeat}
        return (
            self.reward_death_value * enemies_killed
            - self.reward_ally_death_value * allies_lost
            + terminal.get(outcome, 0.0)
        )

    def divisor(self, n_enemies: int, enemy_health_and_shields: float) -> float:
        """What every r_t is divided by; `enemy_health_and_shields` is the sum of the
        enemies' maximum health and shields (used by the smac divisor only)."""
        if not self.reward_scale:
            return 1.0
        max_reward = n_enemies * self.reward_death_value + self.reward_win
        if self.reward_scale_divisor == "smac":
            max_reward += enemy_health_and_shields
        return max_reward / self.reward_scale_rate


class SparseRewardTracker:
    """Turns a simulator's running death counts and outcome into r_t and step info.

    The simulators report how many units are dead so far; the reward needs the
    deaths at this step, hence the counts remembered from the previous step.
    """

    def __init__(self, reward: SparseReward, n_enemies: int) -> None:
        self.reward = reward
        self.n_enemies = n_enemies
        self.divisor: Optional[float] = None  # known once the enemies are on the map: reset()

    def reset(self, enemy_health_and_shields: float) -> None:
        """At the start of an episode, with the enemies' maximum health and shields
        summed (the same every episode of a map; the smac divisor needs it)."""
        self.divisor = self.reward.divisor(self.n_enemies, enemy_health_and_shields)
        self.dead_allies = 0
        self.dead_enemies = 0

    def step(
        self, dead_allies: int, dead_enemies: int, outcome: Outcome
    ) -> tuple[float, dict[str, Union[bool, int]]]:
        """Returns (r_t, info) with info's `battle_won`, `dead_allies`, `dead_enemies`."""
        r = self.reward.unscaled(
            dead_enemies - self.dead_enemies, dead_allies - self.dead_allies, outcome
        )
        self.dead_allies, self.dead_enemies = dead_allies, dead_enemies
        info = {
            "battle_won": outcome is Outcome.WON,
            "dead_allies": dead_allies,
            "dead_enemies": dead_enemies,
        }
        assert self.divisor is not None  # set by reset(), which comes before any step()
        return r / self.divisor, info
