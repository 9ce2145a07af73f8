"""The batched RWARE backend in lockstep with real rware 2.0.0 envs (EPyMARL's
GymmaWrapper around them): every step's observations, rewards, terminated flags and
request queue, and each env's random generator state after every episode, compared
bit for bit, on random, delivering and fuzzed play."""

import sys
from collections import deque

import numpy as np
import pytest


@pytest.fixture(scope="module")
def gymma(epymarl_dir):
    """EPyMARL's `gymma` env function, as src/main.py sees it."""
    sys.path.insert(0, str(epymarl_dir / "src"))
    from envs import REGISTRY

    return REGISTRY["gymma"]


def make_envs(gymma, key, n, time_limit=500, seed=7, common_reward=True):
    return [
        gymma(
            key=f"rware:{key}",
            time_limit=time_limit,
            pretrained_wrapper=None,
            seed=seed + i,
            common_reward=common_reward,
            reward_scalarisation="sum",
        )
        for i in range(n)
    ]


def rng_state(env):
    return env._env.unwrapped.np_random.bit_generator.state


def queue_ids(env):
    return [shelf.id for shelf in env._env.unwrapped.request_queue]


class Lockstep:
    """Reference envs stepped one by one by rware, and a BatchedRware over twins made
    with the same seeds; `step` steps both and compares everything."""

    def __init__(self, gymma, key, n_envs, **kwargs):
        from epymarl_sn.batched.rware import BatchedRware, unsupported

        self.ref = make_envs(gymma, key, n_envs, **kwargs)
        twins = make_envs(gymma, key, n_envs, **kwargs)
        assert unsupported(twins[0]) is None
        self.batch = BatchedRware(twins, kwargs.get("common_reward", True), "sum")
        self.n_agents = self.ref[0].n_agents
        self.episodes = 0
        self.deliveries = 0
        self.active = np.ones(n_envs, bool)
        for b in range(n_envs):
            self.reset(b)

    def reset(self, b):
        self.ref[b].reset()
        self.batch.reset_env(b)
        self.active[b] = True
        assert rng_state(self.ref[b]) == rng_state(self.batch.envs[b])

    def step(self, actions):
        """Step the active envs with `actions` (n_envs, n_agents); reset those that end."""
        envs = np.flatnonzero(self.active)
        ended = self.batch.step(envs, actions)
        for k, b in enumerate(envs):
            obs, reward, done, truncated, _ = self.ref[b].step(actions[b])
            assert np.array_equal(self.batch.obs[b], np.asarray(obs)), (b, self.batch.obs[b], obs)
            got = self.batch.reward(b)
            assert type(got) is type(reward) and np.array_equal(got, reward), (got, reward)
            self.deliveries += int(np.sum(reward) > 0)
            assert bool(ended[k]) == bool(done or truncated)
            assert list(self.batch.queue[b]) == queue_ids(self.ref[b])
            assert self.batch.steps[b] == self.ref[b]._env.unwrapped._cur_steps
            if ended[k]:
                assert rng_state(self.ref[b]) == rng_state(self.batch.envs[b])
                self.episodes += 1
                self.active[b] = False
        if not self.active.any():
            for b in range(len(self.ref)):
                self.reset(b)


def random_actions(rng, n_envs, n_agents, forward=0.2):
    p = np.array([1.0, 0.0, 1.0, 1.0, 1.0]) * (1 - forward) / 4
    p[1] = forward
    return rng.choice(5, size=(n_envs, n_agents), p=p)


@pytest.mark.parametrize(
    "key, time_limit",
    [
        ("rware-tiny-2ag-v2", 100),
        ("rware-tiny-4ag-v2", 100),
        ("rware-small-2ag-v2", 50),
        ("rware-tiny-4ag-hard-v2", 77),
        ("rware-tiny-3ag-easy-v2", 60),
    ],
)
def test_random_play_matches_rware(gymma, key, time_limit):
    run = Lockstep(gymma, key, 4, time_limit=time_limit)
    rng = np.random.default_rng(0)
    for _ in range(3 * time_limit):
        run.step(random_actions(rng, 4, run.n_agents, forward=0.5))
    assert run.episodes >= 8


def test_individual_rewards_and_max_steps(gymma):
    """common_reward False (a reward per agent) and rware's own max_steps (500) ending
    the episode before a longer time limit."""
    run = Lockstep(gymma, "rware-tiny-2ag-v2", 2, time_limit=700, common_reward=False)
    rng = np.random.default_rng(1)
    for _ in range(1000):
        run.step(random_actions(rng, 2, 2, forward=0.5))
    assert run.episodes >= 2


def scripted_actions(env, rng, epsilon):
    """A policy that delivers: each agent walks (BFS, loaded agents around standing
    shelves) to a requested shelf, loads it, carries it to a goal, then back to an empty
    shelf cell to unload; with probability epsilon a random action instead."""
    core = env._env.unwrapped
    height, width = core.grid_size
    requested = {shelf.id for shelf in core.request_queue}
    carried = {a.carrying_shelf.id for a in core.agents if a.carrying_shelf}
    actions = []
    for agent in core.agents:
        if rng.random() < epsilon:
            actions.append(int(rng.integers(5)))
            continue
        loaded = agent.carrying_shelf is not None
        if not loaded:
            goals = {(s.x, s.y) for s in core.shelfs if s.id in requested and s.id not in carried}
        elif agent.carrying_shelf.id in requested:
            goals = set(core.goals)
        else:  # an empty shelf cell to put it back
            goals = {
                (x, y)
                for y in range(height)
                for x in range(width)
                if not core.highways[y, x] and not core.grid[1, y, x]
            }
        if (agent.x, agent.y) in goals and not (loaded and agent.carrying_shelf.id in requested):
            actions.append(4)  # load or unload
            continue
        if not goals:
            actions.append(int(rng.integers(5)))
            continue
        step = first_step(core, agent, goals, loaded)
        actions.append(turn_towards(agent.dir.value, step) if step else 0)
    return actions


def first_step(core, agent, goals, loaded):
    height, width = core.grid_size
    start = (agent.x, agent.y)
    seen = {start: None}
    todo = deque([start])
    while todo:
        cell = todo.popleft()
        if cell in goals:
            while seen[cell] != start and seen[cell] is not None:
                cell = seen[cell]
            return (cell[0] - start[0], cell[1] - start[1]) if cell != start else None
        x, y = cell
        for nx_, ny in ((x, y - 1), (x, y + 1), (x - 1, y), (x + 1, y)):
            if not (0 <= nx_ < width and 0 <= ny < height) or (nx_, ny) in seen:
                continue
            if loaded and core.grid[1, ny, nx_] and (nx_, ny) not in goals:
                continue
            seen[(nx_, ny)] = cell
            todo.append((nx_, ny))
    return None


# (dx, dy) -> Direction value: UP 0, DOWN 1, LEFT 2, RIGHT 3
HEADING = {(0, -1): 0, (0, 1): 1, (-1, 0): 2, (1, 0): 3}
RIGHT_OF = {0: 3, 3: 1, 1: 2, 2: 0}


def turn_towards(direction, step):
    want = HEADING[step]
    if want == direction:
        return 1  # forward
    return 3 if RIGHT_OF[direction] == want else 2  # right, else left


@pytest.mark.parametrize("key", ["rware-tiny-2ag-v2", "rware-tiny-4ag-v2", "rware-small-2ag-v2"])
def test_delivering_play_matches_rware(gymma, key):
    """Deliveries draw new requests from each env's generator: many of them, in step."""
    run = Lockstep(gymma, key, 3, time_limit=200)
    rng = np.random.default_rng(2)
    for _ in range(600):
        actions = np.array([scripted_actions(env, rng, 0.05) for env in run.ref])
        run.step(actions)
    assert run.deliveries >= 20, run.deliveries


def fuzz(core, rng):
    """Pack the agents into a small block of the grid (rotations, chains, swaps and
    ties of 3+ agents, grid edges), with random directions, and loaded where a shelf
    stands under them."""
    from rware.warehouse import Direction

    height, width = core.grid_size
    n = len(core.agents)
    side = int(np.ceil(np.sqrt(n * 1.3)))
    x0 = int(rng.integers(0, max(1, width - side + 1)))
    y0 = int(rng.integers(0, max(1, height - side + 1)))
    cells = [
        (x, y) for y in range(y0, min(height, y0 + side)) for x in range(x0, min(width, x0 + side))
    ]
    picks = rng.choice(len(cells), size=n, replace=False)
    carried = set()
    for agent, pick in zip(core.agents, picks):
        agent.x, agent.y = cells[pick]
        agent.dir = Direction(int(rng.integers(4)))
        agent.carrying_shelf = None
    core._recalc_grid()
    for agent in core.agents:
        shelf = core.grid[1, agent.y, agent.x]
        if shelf and shelf not in carried and rng.random() < 0.5:
            agent.carrying_shelf = core.shelfs[shelf - 1]
            carried.add(shelf)


@pytest.mark.parametrize(
    "key, n_envs, ties",
    [
        ("rware-tiny-4ag-v2", 6, "few"),
        ("rware-tiny-8ag-v2", 6, "some"),
        ("rware-small-2ag-v2", 4, 0),
    ],
)
def test_fuzzed_states_match_rware(gymma, key, n_envs, ties):
    """Every few steps the same crowded state is put into a reference env and its twin;
    with 3+ agents some collision ties depend on networkx's set order: those steps go
    to rware's own step, and they are counted."""
    run = Lockstep(gymma, key, n_envs, time_limit=1000)
    rng = np.random.default_rng(3)
    for t in range(400):
        if t % 5 == 0:
            for b in range(n_envs):
                seed = int(rng.integers(1 << 30))
                fuzz(run.ref[b]._env.unwrapped, np.random.default_rng(seed))
                run.batch._store(b)  # the twin's row into its rware objects, fuzzed alike
                fuzz(run.batch.cores[b], np.random.default_rng(seed))
                run.batch._load(b)
        run.step(random_actions(rng, n_envs, run.n_agents, forward=0.7))
    # two agents never tie three ways; eight in a crowd do, on a few steps
    assert run.batch.fallback_steps < run.batch.steps_total / 10
    if ties == 0:
        assert run.batch.fallback_steps == 0
    elif ties == "some":
        assert run.batch.fallback_steps > 0


def test_unsupported_says_why(gymma):
    """Where the backend cannot stand in for rware, `unsupported` names the reason (the
    vector runner logs it and keeps rware's own envs)."""
    import gymnasium
    from rware.warehouse import ObservationType

    from epymarl_sn.batched.rware import unsupported

    env = make_envs(gymma, "rware-tiny-2ag-v2", 1)[0]
    assert unsupported(env) is None
    env._env = gymnasium.Wrapper(env._env)  # as a pretrained_wrapper would
    assert "wrapped in Wrapper, FlattenObservation, TimeLimit" in unsupported(env)
    dict_obs = gymma(
        key="rware:rware-tiny-2ag-v2",
        time_limit=10,
        pretrained_wrapper=None,
        seed=1,
        common_reward=True,
        reward_scalarisation="sum",
        observation_type=ObservationType.DICT,
    )
    assert unsupported(dict_obs) == "its observations are not rware's flattened vectors"
    assert unsupported(object()) == "the env is object, not EPyMARL's GymmaWrapper"
