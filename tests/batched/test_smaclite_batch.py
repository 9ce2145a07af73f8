"""The batched SMAClite backend in lockstep with real SMAClite envs (the plugin's
smaclite_sparse wrappers, SMAClite's numpy collision avoidance): every step of every env
compared value for value (observations, state, available actions, reward, terminated,
info, each unit's position, velocity, health, shield and cooldown, and the env's
generator state), on all 12 SMAClite maps; what the kernels do not hold is refused with
its reason."""

import sys

import numpy as np
import pytest

from helpers import SMACLITE_MAPS

# 2c_vs_64zg's battles under random play are long: cut short here
RANDOM_PLAY_ARGS = {"2c_vs_64zg": {"time_limit": 30}}


@pytest.fixture(scope="module")
def smaclite_sparse(epymarl_dir):
    sys.path.insert(0, str(epymarl_dir / "src"))
    from envs import REGISTRY

    from epymarl_sn.plugin import register

    register()
    return REGISTRY["smaclite_sparse"]


def test_the_maps_are_smaclites_own(smaclite_sparse):
    from smaclite.env.maps.map import MapPreset

    assert sorted(SMACLITE_MAPS) == sorted(m.value.name for m in MapPreset)


def make_envs(env_fn, map_name, n, **env_args):
    args = {"use_cpp_rvo2": False, "state_last_action": True, **env_args}
    return [
        env_fn(
            map_name=map_name, seed=10 + i, common_reward=True, reward_scalarisation="sum", **args
        )
        for i in range(n)
    ]


class Lockstep:
    """n reference envs and a SmacliteSlice over n more, made alike."""

    def __init__(self, env_fn, map_name, n=2, on_reset=None, **env_args):
        from epymarl_sn.runners.layout import array_layout, array_views, layout_bytes
        from epymarl_sn.runners.smaclite import SmacliteSlice

        self.ref = make_envs(env_fn, map_name, n, **env_args)
        self.slice = SmacliteSlice(make_envs(env_fn, map_name, n, **env_args))
        info = self.ref[0].get_env_info()
        layout = array_layout(n, info, common_reward=True)
        buffer = bytearray(layout_bytes(layout))
        self.slice.attach((buffer, layout))
        self.a = array_views(buffer, layout)
        self.n = n
        self.on_reset = on_reset
        self.steps = self.episodes = self.wins = self.time_outs = 0
        for env in self.ref:
            env.reset()
        self.slice.reset(None)
        for e in range(n):
            self.after_reset(e)

    def after_reset(self, e):
        """A change to the reference game of env e (on_reset), read into the batch."""
        if self.on_reset is not None:
            game = self.ref[e].env.unwrapped
            self.on_reset(game)
            self.slice.batch.load(e, game)
            self.slice.batch._observe(np.array([e]))
            self.slice.observe(np.array([e]))
        self.compare(e)

    def compare_all(self):
        for e in range(self.n):
            self.compare(e)

    def compare(self, e):
        ref, a, batch = self.ref[e], self.a, self.slice.batch
        assert np.array_equal(np.asarray(ref.get_obs()), a["obs"][e])
        assert np.array_equal(ref.get_state(), a["state"][e])
        assert np.array_equal(np.asarray(ref.get_avail_actions()), a["avail_actions"][e])
        game = ref.env.unwrapped
        from epymarl_sn.batched import smaclite_kernel as k

        units = {u.id: u for u in game.all_units.values()}
        for slot in range(batch.n_units):
            u = units.get(slot)
            assert bool(batch.sti[e, slot, k.LIVE]) == (u is not None), slot
            if u is None:
                continue
            st = batch.st[e, slot]
            assert (st[k.PX], st[k.PY]) == tuple(map(float, u.pos)), slot
            assert (st[k.VX], st[k.VY]) == tuple(map(float, u.velocity)), slot
            assert batch.sti[e, slot, k.V32] == (u.velocity.dtype == np.float32)
            assert (st[k.HP], st[k.SH], st[k.CD], st[k.SCD]) == (
                u.hp,
                u.shield,
                u.cooldown,
                u.shield_cooldown,
            ), slot
        mine = batch.games[e]._np_random.bit_generator.state
        assert game._np_random.bit_generator.state == mine

    def step(self, policy):
        actions = np.array(
            [
                [policy(self.ref[e], avail) for avail in self.ref[e].get_avail_actions()]
                for e in range(self.n)
            ]
        )
        self.a["actions"][:] = actions
        ended = self.slice.step(list(range(self.n)))
        for e, env in enumerate(self.ref):
            _, reward, terminated, truncated, info = env.step(actions[e])
            done = terminated or truncated
            assert self.a["reward"][e] == reward
            assert bool(self.a["terminated"][e]) == done
            self.compare(e)
            if done:
                assert ended[e] == info
                self.episodes += 1
                self.wins += info["battle_won"]
                self.time_outs += truncated and not terminated
                env.reset()
                self.slice.batch.reset_env(e)
                self.slice.observe(np.array([e]))
                self.after_reset(e)
            else:
                assert e not in ended
        self.steps += self.n


def random_policy(seed):
    rng = np.random.default_rng(seed)
    return lambda env, avail: int(rng.choice(np.flatnonzero(avail)))


def weaken_enemies(game):
    """Enemies at a quarter of their health, without shields: battles the scripted
    policy wins."""
    for u in game.enemies.values():
        u.hp, u.shield = u.max_hp // 4, 0


def focus_fire(env, avail):
    """Every agent attacks the enemy with the lowest id it can (on bane_vs_bane the
    highest: its zerglings, not the banelings packed behind them); else moves towards
    the enemies (east on SMAClite's maps, north on bane_vs_bane), or sideways."""
    attacks = np.flatnonzero(avail[6:])
    bane = env.env.unwrapped.map_info.name == "bane_vs_bane"
    if len(attacks):
        return 6 + int(attacks[-1 if bane else 0])
    for move in (2, 4, 5, 1, 0) if bane else (4, 2, 3, 1, 0):
        if avail[move]:
            return move
    raise AssertionError("no action available")


@pytest.mark.parametrize("map_name", SMACLITE_MAPS)
def test_random_play(smaclite_sparse, map_name):
    run = Lockstep(smaclite_sparse, map_name, **RANDOM_PLAY_ARGS.get(map_name, {}))
    policy = random_policy(1)
    while run.episodes < 2 or run.steps < 60:
        run.step(policy)
    assert run.episodes >= 2


@pytest.mark.parametrize(
    "map_name",
    ["2s3z", "3s_vs_5z", "10m_vs_11m", "3s5z_vs_3s6z", "bane_vs_bane", "2c_vs_64zg", "MMM2"],
)
def test_focus_fire_wins_battles(smaclite_sparse, map_name):
    run = Lockstep(smaclite_sparse, map_name, on_reset=weaken_enemies)
    while run.episodes < 4:
        run.step(focus_fire)
    assert run.wins >= 1, f"{map_name}: the scripted policy won no battle in {run.episodes}"


@pytest.mark.parametrize("map_name", ["3s5z_vs_3s6z", "2c_vs_64zg"])
def test_battles_run_to_the_time_limit(smaclite_sparse, map_name):
    """Agents that stop (on 2c_vs_64zg, colossi that 64 zerglings surround)."""
    run = Lockstep(smaclite_sparse, map_name, time_limit=7)
    stop = lambda env, avail: 1 if avail[1] else 0  # noqa: E731
    while run.episodes < 4:
        run.step(stop)
    assert run.time_outs >= 2


def fuzz(game, seed):
    """Random unit states: every unit alive packed into a small box around the map's
    centre (some on grid points, so distances tie), with low, random health (units die
    on the same step) and random shields and cooldowns."""
    rng = np.random.default_rng(seed)
    cx, cy = game.map_info.width / 2, game.map_info.height / 2
    # distinct points (SMAClite itself breaks on two units at one point)
    grid = rng.permutation([(x, y) for x in range(-4, 5) for y in range(-4, 5)])
    for u, (gx, gy) in zip(game.all_units.values(), grid):
        if rng.random() < 0.3:
            dx, dy = gx * 0.5, gy * 0.5
        else:
            dx, dy = gx * 0.5 + rng.uniform(0.01, 0.49), gy * 0.5 + rng.uniform(0.01, 0.49)
        u.pos[:] = (cx + dx, cy + dy)
        u.hp = float(rng.choice([1, 2, 5, u.max_hp]))
        u.shield = float(rng.choice([0, u.max_shield]))
        u.cooldown = float(rng.choice([0.0, u.max_cooldown / 2]))
        if u.max_energy:
            # a healer short of energy (under 5 it keeps no new target)
            u.energy = float(rng.choice([0.0, 3.0, 50.0]))
    game.neighbour_finder_all.update()
    game.neighbour_finder_ally.update()
    game.neighbour_finder_enemy.update()


@pytest.mark.parametrize(
    "map_name",
    [
        "3s5z_vs_3s6z",
        "27m_vs_30m",
        "corridor",
        "2s_vs_1sc",
        "bane_vs_bane",
        "2c_vs_64zg",
        "MMM",
        "MMM2",
    ],
)
def test_fuzzed_states(smaclite_sparse, map_name):
    run = Lockstep(smaclite_sparse, map_name)
    policy = random_policy(2)
    for trial in range(6):
        for e in range(run.n):
            run.on_reset = lambda games: fuzz(games, seed=100 * trial + e)  # noqa: B023
            run.after_reset(e)
        run.on_reset = None
        for _ in range(4):
            run.step(policy)


def test_a_side_with_damage_dealers_on_two_planes_is_refused(smaclite_sparse):
    """No SMAClite map has one, but a custom one may (here a marine and a flying marine),
    whose targeting queries SMAClite answers in an order that differs between processes."""
    from dataclasses import replace

    from smaclite.env.maps.map import get_standard_map
    from smaclite.env.smaclite import SMACliteEnv
    from smaclite.env.units.targeters.targeter import StandardTargeter
    from smaclite.env.units.unit_type import TARGETER_CACHE, CustomUnitType, StandardUnit
    from smaclite.env.util.plane import Plane

    from epymarl_sn.batched.smaclite import unsupported

    name = "epymarl_sn_test_flying_marine"
    TARGETER_CACHE[name] = StandardTargeter()
    stats = replace(StandardUnit.MARINE.stats, name=name, plane=Plane.AIR)
    info = get_standard_map("2c_vs_64zg")
    ally = next(g for g in info.groups if g.faction.value == "ALLY")
    ally.units = [(StandardUnit.MARINE, 1), (CustomUnitType(stats, name), 1)]
    game = SMACliteEnv(map_info=info, use_cpp_rvo2=False)
    assert "one combat type on two planes" in unsupported(game)


def test_the_cpp_collision_avoidance_is_another_simulator(smaclite_sparse):
    from epymarl_sn.batched.smaclite import unsupported
    from epymarl_sn.envs.installed import rvo2_installed

    assert rvo2_installed(), "epymarl-sn setup builds SMAClite's C++ RVO2 here"
    env = make_envs(smaclite_sparse, "2s3z", 1, use_cpp_rvo2=True)[0]
    assert "use_cpp_rvo2" in unsupported(env.env.unwrapped)
