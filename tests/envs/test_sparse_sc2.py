"""sc2_sparse's reward on real SMAC code: oxwhirl's StarCraft2Env (via EPyMARL's env
function and wrapper), with only the StarCraft II process replaced by a scripted game
that shows synthetic unit states."""

import sys

import numpy as np
import pytest
from s2clientprotocol import common_pb2, raw_pb2, sc2api_pb2

MARINE = 48  # SC2's unit type id
ALLY, ENEMY = 1, 2  # SC2 player ids (owner)


@pytest.fixture(scope="module")
def sc2_sparse(epymarl_dir):
    """EPyMARL's registry with the plugin's envs, as src/main.py sees it."""
    sys.path.insert(0, str(epymarl_dir / "src"))
    from envs import REGISTRY

    from epymarl_sn.envs.sc2 import SparseStarCraft2Env
    from epymarl_sn.plugin import register

    register()
    return REGISTRY["sc2_sparse"], SparseStarCraft2Env


def marines(health):
    """One frame: {tag: health} for the 3m map's units, tags 1-3 allies, 4-6 enemies.
    A unit missing from the frame is dead, as in SC2's observations."""
    return [
        raw_pb2.Unit(
            tag=tag,
            unit_type=MARINE,
            owner=ALLY if tag <= 3 else ENEMY,
            health=hp,
            health_max=45,
            shield=0,
            shield_max=0,
            pos=common_pb2.Point(x=10 + tag, y=10, z=0),
        )
        for tag, hp in health.items()
        if hp > 0
    ]


FULL = {tag: 45 for tag in range(1, 7)}


class ScriptedGame:
    """Stands in for pysc2's controller: each game step shows the next frame of
    unit healths; the last frame stays once the script runs out."""

    def __init__(self, frames):
        self.frames = frames
        self.t = 0
        self.requests = []

    def observe(self):
        units = marines(self.frames[min(self.t, len(self.frames) - 1)])
        return sc2api_pb2.ResponseObservation(
            observation=sc2api_pb2.Observation(raw_data=raw_pb2.ObservationRaw(units=units))
        )

    def step(self, count=1):
        self.t += 1

    def actions(self, request):
        self.requests.append(request)


def make_env(monkeypatch, sc2_sparse, frames, **env_args):
    env_fn, env_cls = sc2_sparse
    game = ScriptedGame(frames)

    def launch(self):  # instead of starting StarCraft II: a 32x32 open map
        self._controller = game
        self.map_x = self.map_y = self.max_distance_x = self.max_distance_y = 32
        self.pathing_grid = np.ones((32, 32), dtype=bool)
        self.terrain_height = np.zeros((32, 32))

    monkeypatch.setattr(env_cls, "_launch", launch)
    # unscaled unless a test asks: the paper's numbers (+10 per kill, ...) step by step
    args = {
        "map_name": "3m",
        "seed": 1,
        "common_reward": True,
        "reward_scalarisation": "sum",
        "reward_scale": False,
        **env_args,
    }
    env = env_fn(**args)
    env.reset()
    return env, game


def play(env):
    """Every agent takes its first valid action (stop when alive, no-op when dead)."""
    rewards, infos = [], []
    while True:
        actions = [int(np.flatnonzero(a)[0]) for a in env.get_avail_actions()]
        _, reward, terminated, truncated, info = env.step(actions)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            return rewards, infos


def test_kills_losses_and_a_win(monkeypatch, sc2_sparse):
    frames = [
        FULL,
        {**FULL, 4: 20},  # damage only: no reward
        {**FULL, 4: 0},  # an enemy killed: +10
        {**FULL, 1: 0, 4: 0, 5: 0},  # an ally lost, an enemy killed: 0
        {2: 45, 3: 45},  # the last enemy killed: +10 and the win
    ]
    env, game = make_env(monkeypatch, sc2_sparse, frames)
    rewards, infos = play(env)
    assert rewards == [0, 10, 0, 210]
    assert infos[-1]["battle_won"] is True
    assert (infos[-1]["dead_allies"], infos[-1]["dead_enemies"]) == (1, 3)
    assert [i["dead_enemies"] for i in infos] == [0, 1, 2, 3]
    assert not any(i["battle_won"] for i in infos[:-1])
    assert len(game.requests) == 4  # SMAC really sent each step's actions


def test_defeat(monkeypatch, sc2_sparse):
    frames = [FULL, {**FULL, 1: 0, 2: 0, 6: 0}, {4: 45, 5: 45}]
    env, _ = make_env(monkeypatch, sc2_sparse, frames)
    rewards, infos = play(env)
    assert rewards == [-10, -10 - 200]
    assert infos[-1] == {**infos[-1], "battle_won": False, "dead_allies": 3, "dead_enemies": 1}


def test_draw_gets_no_terminal_reward(monkeypatch, sc2_sparse):
    frames = [FULL, {**FULL, 4: 0}, {}]  # both teams wiped out at once
    env, _ = make_env(monkeypatch, sc2_sparse, frames)
    rewards, infos = play(env)
    assert rewards == [10, 10 * 2 - 10 * 3]
    assert infos[-1]["battle_won"] is False
    assert (infos[-1]["dead_allies"], infos[-1]["dead_enemies"]) == (3, 3)


def test_timeout_gets_no_terminal_reward(monkeypatch, sc2_sparse):
    frames = [FULL, {**FULL, 4: 0, 1: 0}, {**FULL, 4: 0, 1: 0, 5: 0}]  # then nothing
    env, _ = make_env(monkeypatch, sc2_sparse, frames, continuing_episode=True)
    rewards, infos = play(env)
    assert len(rewards) == env.episode_limit == 60  # SMAC's limit on 3m
    assert rewards[:2] == [0, 10] and set(rewards[2:]) == {0}
    # SMAC's own info is kept: the time-out is not a terminal state for bootstrapping
    assert infos[-1]["episode_limit"] is True
    assert infos[-1]["battle_won"] is False
    assert (infos[-1]["dead_allies"], infos[-1]["dead_enemies"]) == (1, 2)


def test_custom_values_and_scaling(monkeypatch, sc2_sparse):
    frames = [FULL, {**FULL, 4: 0}, {1: 45, 2: 45, 3: 45}]
    env, _ = make_env(
        monkeypatch,
        sc2_sparse,
        frames,
        reward_death_value=5,
        reward_win=100,
        reward_scale=True,
        reward_scale_rate=10,
        reward_scale_divisor="sparse",
    )
    rewards, _ = play(env)
    divisor = (3 * 5 + 100) / 10  # (n_enemies * death value + win) / rate
    assert rewards == pytest.approx([5 / divisor, (2 * 5 + 100) / divisor])
    assert sum(rewards) == pytest.approx(10)  # a flawless win sums to the rate


def test_smac_divisor_and_ally_death_value(monkeypatch, sc2_sparse):
    frames = [FULL, {**FULL, 4: 0}, {**FULL, 1: 0, 4: 0}, {2: 45, 3: 45}]
    env, _ = make_env(
        monkeypatch,
        sc2_sparse,
        frames,
        reward_scale=True,
        reward_scale_rate=50,
        reward_scale_divisor="smac",
        reward_ally_death_value=5,
    )
    rewards, _ = play(env)
    # public SMAC's max_reward on 3m: 3 kills * 10 + win 200 + 3 marines' 45 hp
    assert env.env.max_reward == 3 * 10 + 200 + 3 * 45
    divisor = (3 * 10 + 200 + 3 * 45) / 50
    assert rewards == pytest.approx([10 / divisor, -5 / divisor, (2 * 10 + 200) / divisor])
