"""Batched RWARE: all of a runner's RWARE envs stepped at once, as arrays, in the
training process, with rware 2.0.0's dynamics bit for bit.

rware's `Warehouse.step` spends most of its time building a networkx graph to resolve
collisions and writing observations through Python objects. Here each env's state is a
row of small integer arrays (agents' cells, directions and loads, shelves' cells, the
request queue, the two-layer grid), and one numba kernel steps every env:

1. collisions, exactly as rware's graph does: each agent adds an edge from its cell to
   its target cell, so every weakly connected component holds either one cycle (its
   agents move if the cycle is not a swap of two) or one tree rooted at an empty cell
   (the agents on networkx's `dag_longest_path` move). Where several paths are equally
   long, networkx keeps the predecessor it meets first; this follows the component's
   node order, which is the graph's insertion order unless the component has fewer than
   half the graph's nodes, when networkx iterates a Python set instead. Only that case
   (a tie under set order, possible with 3+ agents) is handed to rware's own `step`,
   on the real env object loaded with the row's state, and counted (`fallback_steps`);
2. moves, turns, loads and unloads in agent order, then the grid;
3. deliveries (a requested shelf on a goal) are rare and draw a new request from the
   env's own generator: they run in Python, in rware's order, with the same draw
   (`Generator.choice` over the candidates is `Generator.integers(0, n)`);
4. observations, rware's flattened layout, for every agent.

Resets go through the real rware env (its generator, its spawn draws) and are read
into the arrays. Everything else of the env (episode limit, info, env_info) is
EPyMARL's `GymmaWrapper`'s.
"""

import logging
from typing import Any, Optional

import numpy as np
from numba import njit

# numba logs every compiler pass at DEBUG, the level of EPyMARL's root logger
logging.getLogger("numba").setLevel(logging.WARNING)

# rware's enums, as integers
NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD = 0, 1, 2, 3, 4
UP, DOWN = 0, 1  # Direction.LEFT = 2, Direction.RIGHT = 3 share the actions' values
GLOBAL, INDIVIDUAL, TWO_STAGE = 0, 1, 2
AGENTS, SHELVES = 0, 1  # grid layers

# Direction value -> the direction after turning right / left (rware's wraplist
# [UP, RIGHT, DOWN, LEFT])
TURN_RIGHT = np.array([3, 2, 0, 1], dtype=np.int64)
TURN_LEFT = np.array([2, 3, 1, 0], dtype=np.int64)


@njit(cache=True)
def _target(x: int, y: int, d: int, action: int, height: int, width: int) -> tuple[int, int]:
    """rware's `Agent.req_location`."""
    if action != FORWARD:
        return x, y
    if d == UP:
        return x, max(0, y - 1)
    if d == DOWN:
        return x, min(height - 1, y + 1)
    if d == 2:  # LEFT
        return max(0, x - 1), y
    return min(width - 1, x + 1), y


@njit(cache=True)
def _resolve(b, act, ax, ay, adir, acarry, grid, committed):  # noqa: ANN001, ANN202
    """Which agents of env `b` may carry out their action (rware's collision graph);
    `act` holds the actions, set to NOOP where rware cancels one. Returns False when
    rware's choice depends on set order (the caller hands the step to rware)."""
    n = ax.shape[1]
    height, width = grid.shape[2], grid.shape[3]
    tx = np.empty(n, np.int64)
    ty = np.empty(n, np.int64)
    nxt = np.empty(n, np.int64)  # the agent at the target, i for a self-loop, -1: empty
    for i in range(n):
        x, y = ax[b, i], ay[b, i]
        px, py = _target(x, y, adir[b, i], act[i], height, width)
        if (
            acarry[b, i] != 0
            and (px != x or py != y)
            and grid[b, SHELVES, py, px] != 0
            and not (grid[b, AGENTS, py, px] != 0 and acarry[b, grid[b, AGENTS, py, px] - 1] != 0)
        ):
            # a loaded agent cannot move under a standing shelf
            act[i] = NOOP
            px, py = x, y
        tx[i], ty[i] = px, py
        if px == x and py == y:
            nxt[i] = i
        else:
            nxt[i] = grid[b, AGENTS, py, px] - 1

    # the graph's node insertion order (rware adds edge start -> target, agent by agent)
    # and node count: agents' cells rank by first appearance as a start or a target
    cell_rank = np.full(height * width, -1, np.int64)
    nodes = 0
    for i in range(n):
        for c in (ay[b, i] * width + ax[b, i], ty[i] * width + tx[i]):
            if cell_rank[c] < 0:
                cell_rank[c] = nodes
                nodes += 1

    committed[:] = False
    done = np.zeros(n, np.bool_)  # agents whose component is decided
    dist = np.zeros(n, np.int64)
    for i in range(n):
        if done[i]:
            continue
        # follow the edges from i: to an empty cell (a tree) or into a cycle
        j = i
        steps = 0
        while nxt[j] >= 0 and steps <= n:
            j = nxt[j]
            steps += 1
        if nxt[j] >= 0:  # j is on the component's cycle
            length = 1
            k = nxt[j]
            while k != j:
                k = nxt[k]
                length += 1
            # every agent that reaches this cycle belongs to the component
            for a in range(n):
                m = a
                for _ in range(n + 1):
                    if m < 0:
                        break
                    m = nxt[m]
                    if m == j:
                        break
                if m == j:
                    done[a] = True
            if length != 2:  # a swap of two is physically impossible: nobody moves
                k = j
                for _ in range(length):
                    committed[k] = True
                    k = nxt[k]
            continue
        # a tree rooted at the empty cell `root`: its agents are those ending there
        root = ty[j] * width + tx[j]
        members = np.zeros(n, np.bool_)
        size = 0
        for a in range(n):
            m = a
            for _ in range(n):  # at most n edges to the root (or into a cycle)
                if nxt[m] < 0:
                    break
                m = nxt[m]
            if nxt[m] < 0 and ty[m] * width + tx[m] == root:
                members[a] = True
                done[a] = True
                size += 1
        # networkx's dist: the longest path ending at each node
        dist[:] = 0
        for _ in range(n):
            for a in range(n):
                if members[a] and nxt[a] >= 0 and dist[a] + 1 > dist[nxt[a]]:
                    dist[nxt[a]] = dist[a] + 1
        # networkx iterates the component in set order when it has fewer than half the
        # graph's nodes (its FilterAtlas), else in the graph's insertion order
        set_order = 2 * (size + 1) < nodes
        cur = -1  # the root, then the agent whose predecessors are looked at
        while True:
            best, chosen, ties = -1, -1, 0
            for a in range(n):
                if not members[a] or (nxt[a] != cur if cur >= 0 else nxt[a] != -1):
                    continue
                if dist[a] > best:
                    best, chosen, ties = dist[a], a, 1
                elif dist[a] == best:
                    ties += 1
                    rank_a = cell_rank[ay[b, a] * width + ax[b, a]]
                    if rank_a < cell_rank[ay[b, chosen] * width + ax[b, chosen]]:
                        chosen = a
            if chosen < 0:
                break
            if ties > 1 and set_order:
                return False
            committed[chosen] = True
            cur = chosen
    return True


@njit(cache=True)
def step_kernel(
    envs, actions, ax, ay, adir, acarry, adeliv, sx, sy, queue, grid, highways, goals,
    reward_type, steps, rewards, fallback, delivering,
):  # fmt: skip  # noqa: ANN001, ANN201
    """Steps 1 and 2 (and the step counter) for the envs `envs`; flags the envs whose
    step rware must do (`fallback`) and those with a requested shelf on a goal
    (`delivering`), left for Python."""
    n = ax.shape[1]
    committed = np.zeros(n, np.bool_)
    act = np.empty(n, np.int64)
    for e in range(envs.shape[0]):
        b = envs[e]
        rewards[b, :] = 0.0
        fallback[b] = False
        delivering[b] = False
        for i in range(n):
            act[i] = actions[b, i]
        if not _resolve(b, act, ax, ay, adir, acarry, grid, committed):
            fallback[b] = True
            continue
        height, width = grid.shape[2], grid.shape[3]
        for i in range(n):
            a = act[i] if committed[i] else NOOP  # failed moves become NOOP
            x, y = ax[b, i], ay[b, i]
            if a == FORWARD:
                x, y = _target(x, y, adir[b, i], a, height, width)
                ax[b, i], ay[b, i] = x, y
                if acarry[b, i] != 0:
                    sx[b, acarry[b, i] - 1], sy[b, acarry[b, i] - 1] = x, y
            elif a == LEFT:
                adir[b, i] = TURN_LEFT[adir[b, i]]
            elif a == RIGHT:
                adir[b, i] = TURN_RIGHT[adir[b, i]]
            elif a == TOGGLE_LOAD and acarry[b, i] == 0:
                # the grid is still the one before this step's moves, as in rware
                acarry[b, i] = grid[b, SHELVES, y, x]
            elif a == TOGGLE_LOAD and not highways[y, x]:
                acarry[b, i] = 0
                if adeliv[b, i] and reward_type == TWO_STAGE:
                    rewards[b, i] += 0.5
                adeliv[b, i] = False
        grid[b] = 0
        for s in range(sx.shape[1]):
            grid[b, SHELVES, sy[b, s], sx[b, s]] = s + 1
        for i in range(n):
            grid[b, AGENTS, ay[b, i], ax[b, i]] = i + 1
        steps[b] += 1
        for g in range(goals.shape[0]):
            shelf = grid[b, SHELVES, goals[g, 1], goals[g, 0]]
            for q in range(queue.shape[1]):
                if shelf != 0 and queue[b, q] == shelf:
                    delivering[b] = True


@njit(cache=True)
def obs_kernel(envs, ax, ay, adir, acarry, queue, grid, highways, sensor_range, normalised, obs):  # noqa: ANN001, ANN201
    """rware's flattened observation of every agent of the envs `envs` (msg_bits 0)."""
    n = ax.shape[1]
    height, width = grid.shape[2], grid.shape[3]
    for e in range(envs.shape[0]):
        b = envs[e]
        for i in range(n):
            o = obs[b, i]
            o[:] = 0.0
            x, y = ax[b, i], ay[b, i]
            if normalised:
                o[0] = x / (width - 1)
                o[1] = y / (height - 1)
            else:
                o[0] = x
                o[1] = y
            o[2] = 1.0 if acarry[b, i] != 0 else 0.0
            o[3 + adir[b, i]] = 1.0
            o[7] = 1.0 if highways[y, x] else 0.0
            k = 8
            for cy in range(y - sensor_range, y + sensor_range + 1):
                for cx in range(x - sensor_range, x + sensor_range + 1):
                    inside = 0 <= cy < height and 0 <= cx < width
                    agent = grid[b, AGENTS, cy, cx] if inside else 0
                    shelf = grid[b, SHELVES, cy, cx] if inside else 0
                    if agent == 0:
                        o[k + 1] = 1.0  # rware writes direction UP for no agent
                    else:
                        o[k] = 1.0
                        o[k + 1 + adir[b, agent - 1]] = 1.0
                    if shelf != 0:
                        o[k + 5] = 1.0
                        for q in range(queue.shape[1]):
                            if queue[b, q] == shelf:
                                o[k + 6] = 1.0
                    k += 7


def unsupported(env: Any) -> Optional[str]:
    """Why the batched backend cannot stand in for this EPyMARL env (None if it can)."""
    from envs.gymma import GymmaWrapper
    from rware.warehouse import Warehouse

    if type(env) is not GymmaWrapper:
        return f"the env is {type(env).__name__}, not EPyMARL's GymmaWrapper"
    core = env._env.unwrapped
    if type(core) is not Warehouse:
        return f"{type(core).__name__} is not rware's Warehouse"
    if not core.fast_obs or core.image_obs or core.image_dict_obs:
        return "its observations are not rware's flattened vectors"
    if core.msg_bits:
        return "its agents send messages (msg_bits > 0)"
    layers = [type(w).__name__ for w in _wrappers(env._env)]
    if layers[:2] != ["FlattenObservation", "TimeLimit"] or not set(layers[2:]) <= {
        "OrderEnforcing",
        "PassiveEnvChecker",
    }:
        return f"rware is wrapped in {', '.join(layers)} (a pretrained_wrapper?)"
    return None


def _wrappers(env: Any) -> list[Any]:
    out = []
    while hasattr(env, "env"):
        out.append(env)
        env = env.env
    return out


class BatchedRware:
    """The envs of a batch (EPyMARL GymmaWrappers around rware Warehouses), stepped
    together. `step` leaves the stepped envs' observations and rewards in their rows of
    `obs` and `rewards` and returns which of them terminated; `reset_env` resets through
    rware, whose env gives the first observations."""

    def __init__(self, envs: list[Any], common_reward: bool, reward_scalarisation: str):
        self.envs = envs
        self.cores = [env._env.unwrapped for env in envs]
        core = self.cores[0]
        batch, n = len(envs), core.n_agents
        # rware makes a shelf on every cell off the highways, at reset
        shelves, queue_size = int((core.highways == 0).sum()), core.request_queue_size
        self.ax = np.zeros((batch, n), np.int64)
        self.ay = np.zeros((batch, n), np.int64)
        self.adir = np.zeros((batch, n), np.int64)
        self.acarry = np.zeros((batch, n), np.int64)
        self.adeliv = np.zeros((batch, n), np.bool_)
        self.sx = np.zeros((batch, shelves), np.int64)
        self.sy = np.zeros((batch, shelves), np.int64)
        self.queue = np.zeros((batch, queue_size), np.int64)
        self.grid = np.zeros((batch, *core.grid.shape), np.int64)
        self.steps = np.zeros(batch, np.int64)
        self.inactive = np.zeros(batch, np.int64)
        self.rewards = np.zeros((batch, n), np.float64)
        self.fallback = np.zeros(batch, np.bool_)
        self.delivering = np.zeros(batch, np.bool_)
        self.highways = core.highways.astype(np.bool_)
        self.goals = np.array(core.goals, np.int64).reshape(-1, 2)  # (x, y)
        self.reward_type = core.reward_type.value
        self.obs = np.zeros((batch, n, int(envs[0].get_obs_size())), np.float32)
        self.time_limits = np.array([env.episode_limit for env in envs], np.int64)
        self.common_reward = common_reward
        self.mean_reward = reward_scalarisation == "mean"
        self.fallback_steps = 0  # steps handed to rware (set-order collision ties)
        self.steps_total = 0

    # -- moving state between rware's objects and the arrays

    def _load(self, b: int) -> None:
        core = self.cores[b]
        for i, agent in enumerate(core.agents):
            self.ax[b, i], self.ay[b, i], self.adir[b, i] = agent.x, agent.y, agent.dir.value
            self.acarry[b, i] = agent.carrying_shelf.id if agent.carrying_shelf else 0
            self.adeliv[b, i] = agent.has_delivered
        for s, shelf in enumerate(core.shelfs):
            self.sx[b, s], self.sy[b, s] = shelf.x, shelf.y
        self.queue[b] = [shelf.id for shelf in core.request_queue]
        self.grid[b] = core.grid
        self.steps[b], self.inactive[b] = core._cur_steps, core._cur_inactive_steps

    def _store(self, b: int) -> None:
        from rware.warehouse import Direction

        core = self.cores[b]
        for s, shelf in enumerate(core.shelfs):
            shelf.x, shelf.y = int(self.sx[b, s]), int(self.sy[b, s])
        for i, agent in enumerate(core.agents):
            agent.x, agent.y = int(self.ax[b, i]), int(self.ay[b, i])
            agent.dir = Direction(int(self.adir[b, i]))
            carry = int(self.acarry[b, i])
            agent.carrying_shelf = core.shelfs[carry - 1] if carry else None
            agent.has_delivered = bool(self.adeliv[b, i])
        core.request_queue = [core.shelfs[s - 1] for s in self.queue[b]]
        core.grid[:] = self.grid[b]
        core._cur_steps, core._cur_inactive_steps = int(self.steps[b]), int(self.inactive[b])

    # -- the runner's calls

    def reset_env(self, b: int) -> None:
        """Reset env b through rware (its generator draws the spawn and the requests)."""
        self.envs[b].reset()
        self._load(b)

    def step(self, envs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Step the envs `envs` (ascending indices) with `actions` (batch, n_agents);
        returns whether each of them terminated (done or truncated)."""
        step_kernel(
            envs, actions, self.ax, self.ay, self.adir, self.acarry, self.adeliv, self.sx,
            self.sy, self.queue, self.grid, self.highways, self.goals, self.reward_type,
            self.steps, self.rewards, self.fallback, self.delivering,
        )  # fmt: skip
        self.steps_total += len(envs)
        for b in envs[self.fallback[envs]]:
            self._rware_step(b, actions[b])
        for b in envs[~self.fallback[envs]]:
            if self.delivering[b]:
                self._deliver(b)
            else:
                self.inactive[b] += 1
        core = self.cores[0]
        obs_kernel(
            envs, self.ax, self.ay, self.adir, self.acarry, self.queue, self.grid,
            self.highways, core.sensor_range, core.normalised_coordinates, self.obs,
        )  # fmt: skip
        done = np.zeros(len(envs), np.bool_)
        if core.max_inactivity_steps:
            done |= self.inactive[envs] >= core.max_inactivity_steps
        if core.max_steps:
            done |= self.steps[envs] >= core.max_steps
        return done | (self.steps[envs] >= self.time_limits[envs])

    def reward(self, b: int) -> Any:
        """Env b's last reward as EPyMARL's GymmaWrapper returns it."""
        rewards = list(self.rewards[b])
        if self.common_reward:
            total = float(sum(rewards))
            return total / len(rewards) if self.mean_reward else total
        return rewards

    def _deliver(self, b: int) -> None:
        """rware's delivery loop: requested shelves on goals, replaced in the queue by a
        draw of the env's generator."""
        queue = self.queue[b]
        rng = self.cores[b].np_random
        delivered = False
        for gx, gy in self.goals:
            shelf = self.grid[b, SHELVES, gy, gx]
            if not shelf or shelf not in queue:
                continue
            delivered = True
            candidates = np.setdiff1d(np.arange(1, self.sx.shape[1] + 1), queue)
            queue[np.flatnonzero(queue == shelf)[0]] = candidates[rng.integers(0, len(candidates))]
            agent = self.grid[b, AGENTS, gy, gx] - 1
            if self.reward_type == GLOBAL:
                self.rewards[b] += 1
            elif self.reward_type == INDIVIDUAL:
                self.rewards[b, agent] += 1
            else:
                self.adeliv[b, agent] = True
                self.rewards[b, agent] += 0.5
        self.inactive[b] = 0 if delivered else self.inactive[b] + 1

    def _rware_step(self, b: int, actions: np.ndarray) -> None:
        """rware's own step for env b, on its real objects loaded with the row's state."""
        self.fallback_steps += 1
        self._store(b)
        _, rewards, _, _, _ = self.cores[b].step([int(a) for a in actions])
        self.rewards[b] = rewards
        self._load(b)
