"""The batched SMAClite backend: every env of a batch as rows of arrays in the training
process, stepped by the numba kernels of `smaclite_kernel`, reproducing SMAClite with its
numpy collision avoidance (`use_cpp_rvo2: False`) value for value.

Resets go through the real SMAClite env (placement draws nothing), whose units are then
read into the arrays. The per-world-step shuffle of the units is drawn in the kernels
from each env's own generator (its PCG64 state, read before a step and written back
after it), as SMAClite's `Generator.shuffle` of a list draws it, so every env's random
stream stays SMAClite's. A laser (the colossus') fires between two kernel calls: its hits
are found by SMAClite's own targeter, given the tree's neighbours, so its float32 numpy
trigonometry and BLAS product are NumPy's. Where a map needs what the kernels do not hold,
`unsupported` says so and the run keeps SMAClite's own envs.
"""

from typing import Any, Optional

import numpy as np

from epymarl_sn.batched import smaclite_kernel as k

STEP_MUL = 8


def blas_dot_fma() -> Optional[bool]:
    """Whether NumPy's float64 dot of 2-vectors (BLAS ddot) fuses the second product into
    the sum on this machine (True), adds plainly (False), or neither (None): the kernels
    must do what SMAClite's numpy gets here. x1 * y1 = 1 + 2**-29 + 2**-60 exactly."""
    x = np.array([-1.0, 1.0 + 2.0**-30])
    y = np.array([1.0, 1.0 + 2.0**-30])
    got = float(np.inner(x, y))
    if got == 2.0**-29 + 2.0**-60:
        return True
    if got == 2.0**-29:
        return False
    return None


PLANES = ("GROUND", "AIR", "COLOSSUS")  # smaclite's Plane values, as the kernels number them


def pcg64_row(state: dict[str, Any]) -> np.ndarray:
    """A PCG64 generator's state as the kernels' row of uint64 (`smaclite_kernel.shuffles`)."""
    s, inc = state["state"]["state"], state["state"]["inc"]
    m64 = (1 << 64) - 1
    return np.array(
        [s >> 64, s & m64, inc >> 64, inc & m64, state["has_uint32"], state["uinteger"]],
        np.uint64,
    )


def pcg64_state(row: np.ndarray) -> dict[str, Any]:
    """The PCG64 state of a kernels' row (`pcg64_row`'s inverse)."""
    return {
        "bit_generator": "PCG64",
        "state": {
            "state": (int(row[0]) << 64) | int(row[1]),
            "inc": (int(row[2]) << 64) | int(row[3]),
        },
        "has_uint32": int(row[4]),
        "uinteger": int(row[5]),
    }


def unsupported(game: Any) -> Optional[str]:
    """Why the batched backend cannot step this SMAClite env (`env.unwrapped`), or None."""
    from smaclite.env.rvo2.velocity_updater import NumpyVelocityUpdater
    from smaclite.env.units.targeters.targeter import (
        HealTargeter,
        KamikazeTargeter,
        LaserBeamTargeter,
        StandardTargeter,
    )
    from smaclite.env.units.unit_type import TARGETER_CACHE, CombatType
    from smaclite.env.util.plane import Plane

    if not isinstance(game.velocity_updater, NumpyVelocityUpdater):
        return "it reproduces SMAClite's numpy collision avoidance, and use_cpp_rvo2 is True"
    sides: dict[str, list[Any]] = {"ALLY": [], "ENEMY": []}
    for group in game.map_info.groups:
        for unit_type, _ in group.units:
            stats = unit_type.stats
            targeter = type(TARGETER_CACHE[stats.name])
            if targeter not in (
                StandardTargeter,
                KamikazeTargeter,
                LaserBeamTargeter,
                HealTargeter,
            ):
                return f"{stats.name}'s {targeter.__name__} is not one the kernels hold"
            if (stats.combat_type == CombatType.HEALING) != (targeter is HealTargeter):
                return f"{stats.name} heals with another targeter than SMAClite's healer's"
            sides[group.faction.value].append(stats)
    # a neighbour finder answers plane by plane, in the order of a set of planes (by
    # their names' hashes: it differs between processes); the kernels hold the maps where
    # that order cannot matter:
    for side, units in sides.items():
        other = sides["ENEMY" if side == "ALLY" else "ALLY"]
        other_planes = {u.plane for u in other}
        # a damage dealer's target is the least (priority, distance): units on two planes
        # never tie where each plane holds one combat type
        by_type: dict[Any, set[Any]] = {}
        for u in units:
            by_type.setdefault(u.combat_type, set()).add(u.plane)
        if any(len(p) > 1 for p in by_type.values()):
            return f"the {side.lower()} side has units of one combat type on two planes"
        for u in units:
            # a healer's target is the least health: its own side's targetable planes
            # must be one
            reach = {
                p for p in {v.plane for v in units} if p in u.valid_targets or p == Plane.COLOSSUS
            }
            if u.combat_type == CombatType.HEALING and len(reach) > 1:
                return f"{u.name} heals units on two planes"
            # an area attack's neighbours (their order goes into the laser's float32 product)
            if (
                type(TARGETER_CACHE[u.name]) is not StandardTargeter
                and u.combat_type == CombatType.DAMAGE
                and len(other_planes) > 1
            ):
                return f"{u.name}'s attack hits an area over two planes"
    if type(game._np_random.bit_generator).__name__ != "PCG64":
        return "its generator is not a PCG64, whose shuffle the kernels draw"
    if game.n_agents + game.n_enemies >= 81:
        return "its KD-trees would have more than one leaf"
    if blas_dot_fma() is None:
        return "this machine's BLAS dot product is neither plain nor fused"
    return None


class BatchedSmaclite:
    """The SMAClite games of `envs` (EPyMARL wrappers whose `env.unwrapped` is a
    SMACliteEnv that `unsupported` accepts), stepped together."""

    def __init__(self, envs: list[Any]):
        self.envs = envs
        self.games = [env.env.unwrapped for env in envs]
        game = self.games[0]
        game.reset()  # the units exist after a reset
        info = game.map_info
        units = list(game.all_units.values())
        self.n_units = len(units)
        self.n_agents, self.n_enemies = game.n_agents, game.n_enemies
        self.n_actions = game.n_actions
        self.agent_slots = np.array(
            [i for i, u in enumerate(units) if u.faction.value == "ALLY"], np.int64
        )
        self.enemy_slots = np.array(
            [i for i, u in enumerate(units) if u.faction.value == "ENEMY"], np.int64
        )
        us = np.zeros((self.n_units, k.N_US))
        for i, u in enumerate(units):
            us[i, k.RAD] = u.radius
            us[i, k.RADSQ] = u.radius_sq
            us[i, k.SPEED] = u.max_velocity
            us[i, k.MAXHP] = u.max_hp
            us[i, k.MAXSH] = u.max_shield
            us[i, k.ARMOR] = u.armor
            us[i, k.ATTACKS] = u.attacks
            us[i, k.MAXCD] = u.max_cooldown
            us[i, k.ARANGE] = u.attack_range
            us[i, k.SCAN] = u.minimum_scan_range
            us[i, k.REGEN] = u.hp_regen / 16 if u.hp_regen else 0.0
            us[i, k.HASREGEN] = bool(u.hp_regen)
            orad = u.radius + 1 * u.max_velocity  # ObstacleFinder.query's radius
            us[i, k.ORAD] = orad
            us[i, k.ORADSQ] = orad**2
            us[i, k.FAC] = 0 if u.faction.value == "ALLY" else 1
            us[i, k.FID] = u.id_in_faction
            us[i, k.PLANE] = PLANES.index(u.plane.value)
            us[i, k.VALID] = sum(1 << PLANES.index(p.value) for p in u.valid_targets)
            us[i, k.KAMI] = u.targeter.radius if _kamikaze(u) else 0.0
            us[i, k.LASER] = _laser(u)
            us[i, k.HEAL] = u.combat_type.value == "HEALING"
            us[i, k.MAXEN] = u.max_energy
        self.us = us
        # each unit's targeter (SMAClite's own), for the lasers
        self.targeters = [u.targeter for u in units]
        self.dmg = np.zeros((self.n_units, self.n_units))
        for i, u in enumerate(units):
            for j, v in enumerate(units):
                damage = u.damage
                if u.bonuses:
                    for attribute, amount in u.bonuses.items():
                        if attribute in v.attributes:
                            damage += amount
                self.dmg[i, j] = damage
        self.n_types = info.num_unit_types
        self.utype = np.array(
            [info.unit_type_ids[u.type] if self.n_types else 0 for u in units], np.int64
        )
        self.terrain = np.array(
            [[cell.value == "_" for cell in row] for row in info.terrain], dtype=np.bool_
        )
        updater = game.velocity_updater
        finder = updater.obstacle_finder
        rtree_order = [
            finder.index_mapping[i] for i in finder.index.intersection((-100, -100, 100, 100))
        ]
        self.obs = np.zeros((len(rtree_order), k.N_OBS))
        for o, ob in enumerate(rtree_order):
            self.obs[o, k.OCX], self.obs[o, k.OCY] = ob.cx, ob.cy
            self.obs[o, k.OHW], self.obs[o, k.OHH] = ob.half_width, ob.half_height
            for li, line in enumerate(ob.lines):
                self.obs[o, k.OLPX + li], self.obs[o, k.OLPY + li] = line.point
                self.obs[o, k.OLDX + li], self.obs[o, k.OLDY + li] = line.unit_direction
        self.attack_point = np.array(info.attack_point, dtype=np.float64)
        self.max_radius = float(game.max_unit_radius)
        self.map_w, self.map_h = info.width, info.height
        self.ally_shields = int(info.ally_has_shields)
        self.enemy_shields = int(info.enemy_has_shields)
        self.dot_fma = blas_dot_fma()
        b = len(envs)
        self.st = np.zeros((b, self.n_units, k.N_ST))
        self.sti = np.zeros((b, self.n_units, k.N_STI), np.int64)
        # a query's answers (one side's units) and the allies' appended targets
        n_pot = self.n_units + self.n_agents
        self.pot_slot = np.zeros((b, self.n_units, n_pot), np.int64)
        self.pot_dist = np.zeros((b, self.n_units, n_pot))
        self.prio_slot = np.zeros((b, self.n_units, self.n_agents), np.int64)
        self.prio_dist = np.zeros((b, self.n_units, self.n_agents))
        self.healer = np.array([u.combat_type.value == "HEALING" for u in units])
        # the positions the KD-trees were built from: those at the world step's start
        self.pos0 = np.zeros((b, self.n_units, 2))
        self.hit_slot = np.zeros(self.n_units, np.int64)
        self.hit_dist = np.zeros(self.n_units)
        # SMAClite's last_actions: zeros until the first step, and a reset keeps them
        self.last_actions = np.zeros((b, self.n_agents * self.n_actions), np.float32)
        self.elapsed = np.zeros(b, np.int64)
        self.time_limit = envs[0].episode_limit
        self.obs_out = np.zeros((b, self.n_agents, game.obs_size), np.float32)
        n_state = (
            self.n_agents * game.ally_state_feat_size + self.n_enemies * game.enemy_state_feat_size
        )
        self.state_out = np.zeros((b, n_state), np.float32)
        self.avail_out = np.zeros((b, self.n_agents, self.n_actions), np.float64)

    def reset_env(self, i: int) -> None:
        """Reset env i through SMAClite (and the plugin's wrapper), then read its units."""
        self.envs[i].reset()
        self.load(i)
        self.elapsed[i] = 0
        self._observe(np.array([i], np.int64))

    def load(self, i: int, game: Optional[Any] = None) -> None:
        """Read env i's SMAClite game (or `game`, a SMAClite env of the same map) into
        row i."""
        from smaclite.env.units.unit_command import (
            AttackMoveCommand,
            AttackUnitCommand,
            MoveCommand,
            StopCommand,
        )

        game = self.games[i] if game is None else game
        units = {u.id: u for u in game.all_units.values()}
        st, sti = self.st[i], self.sti[i]
        sti[:] = 0
        for slot in range(self.n_units):
            u = units.get(slot)
            if u is None:
                # dead: SMAClite keeps no unit object in its dicts
                st[slot, k.HP] = 0.0
                continue
            st[slot, k.PX], st[slot, k.PY] = u.pos
            st[slot, k.VX], st[slot, k.VY] = u.velocity
            sti[slot, k.V32] = u.velocity.dtype == np.float32
            st[slot, k.HP], st[slot, k.SH] = u.hp, u.shield
            st[slot, k.CD], st[slot, k.SCD] = u.cooldown, u.shield_cooldown
            st[slot, k.EN], st[slot, k.HEALAV] = u.energy, u.healing_available
            sti[slot, k.LIVE] = 1
            sti[slot, k.TGT] = -1 if u.target is None else u.target.id
            sti[slot, k.ATK] = u.attacking
            c = u.command
            if c is None:
                sti[slot, k.CMD] = k.NOOP
            elif isinstance(c, AttackMoveCommand):
                sti[slot, k.CMD] = k.ATTACK_MOVE
            elif isinstance(c, AttackUnitCommand):
                sti[slot, k.CMD] = k.ATTACK
                sti[slot, k.CTGT] = c.target.id
            elif isinstance(c, MoveCommand):
                sti[slot, k.CMD] = k.MOVE
                st[slot, k.CPX], st[slot, k.CPY] = c.pos
            elif isinstance(c, StopCommand):
                sti[slot, k.CMD] = k.STOP
            else:
                sti[slot, k.CMD] = k.NOOP

    def step(self, envs: np.ndarray, actions: np.ndarray) -> None:
        """Step envs `envs` with actions[e] for env e: the state after SMAClite's
        `step`; `outcome` then reads who is left."""
        st, sti = self.st, self.sti
        eye = np.eye(self.n_actions)
        for e in envs:
            self.last_actions[e] = eye[actions[e]].flatten()
            for a, slot in enumerate(self.agent_slots):
                action = int(actions[e, a])
                if not sti[e, slot, k.LIVE]:
                    assert action == 0  # SMAClite's own check
                    continue
                if not self.avail_out[e, a, action]:
                    raise ValueError(f"Invalid action for agent {a}: {action}")  # SMAClite's
                if action == 0:
                    sti[e, slot, k.CMD] = k.NOOP
                elif action == 1:
                    sti[e, slot, k.CMD] = k.STOP
                elif action <= 5:
                    dx, dy = ((0, 1), (0, -1), (1, 0), (-1, 0))[action - 2]
                    sti[e, slot, k.CMD] = k.MOVE
                    st[e, slot, k.CPX] = st[e, slot, k.PX] + dx * 2
                    st[e, slot, k.CPY] = st[e, slot, k.PY] + dy * 2
                else:
                    # a healer's target is an ally
                    targets = self.agent_slots if self.healer[slot] else self.enemy_slots
                    sti[e, slot, k.CMD] = k.ATTACK
                    sti[e, slot, k.CTGT] = targets[action - 6]
        perms = np.zeros((len(envs), self.n_units), np.int64)
        generators = [self.games[e]._np_random.bit_generator for e in envs]
        rngs = np.array([pcg64_row(g.state) for g in generators], np.uint64)
        for _ in range(STEP_MUL):
            k.shuffles(sti, envs, rngs, perms)
            k.world_prepare(
                st,
                sti,
                self.us,
                self.obs,
                self.pot_slot,
                self.pot_dist,
                self.prio_slot,
                self.prio_dist,
                self.pos0,
                envs,
                self.agent_slots,
                self.enemy_slots,
                self.attack_point,
                self.max_radius,
                self.dot_fma,
            )
            todo, todo_perms = envs, perms
            start = np.zeros(len(envs), np.int64)
            while len(todo):
                fired = np.zeros((len(todo), 3), np.int64)
                k.unit_steps(
                    st,
                    sti,
                    self.us,
                    self.dmg,
                    self.pos0,
                    todo,
                    todo_perms,
                    start,
                    fired,
                    self.agent_slots,
                    self.enemy_slots,
                    self.max_radius,
                )
                again = fired[:, 0] >= 0
                for j in np.flatnonzero(again):
                    self._laser(int(todo[j]), int(fired[j, 1]), int(fired[j, 2]))
                todo, todo_perms, start = todo[again], todo_perms[again], fired[again, 0] + 1
        for g, row in zip(generators, rngs):
            g.state = pcg64_state(row)
        self.elapsed[envs] += 1
        self._observe(envs)

    def _laser(self, e: int, u: int, t: int) -> None:
        """Unit u's laser fired at t in env e: SMAClite's LaserBeamTargeter finds the units
        it hits among the tree's neighbours of t (the other side's units alive at the
        world step's start, within the laser's reach of t now, in the tree's order), and
        the kernels deal the damage."""
        st, sti = self.st[e], self.sti[e]
        opp = self.enemy_slots if self.us[u, k.FAC] == 0 else self.agent_slots
        pts = opp[sti[opp, k.LIVE] > 0]
        targeter = self.targeters[u]
        n = k.tree_query(
            self.pos0,
            e,
            pts,
            len(pts),
            st[t, k.PX],
            st[t, k.PY],
            float(targeter.radius),
            self.hit_slot,
            self.hit_dist,
            0,
        )
        if n == 0:
            # the other side all died before this world step: its tree still holds them
            # (SMAClite rebuilds no empty tree), and a dead unit takes no damage
            return
        neighbours = [
            _Shape(st[s, k.PX], st[s, k.PY], self.us[s, k.RADSQ], s) for s in self.hit_slot[:n]
        ]
        origin = _Shape(st[u, k.PX], st[u, k.PY], 0.0, u)
        targeter.target(
            origin, _Shape(st[t, k.PX], st[t, k.PY], 0.0, t), neighbour_finder=_Found(neighbours)
        )
        k.apply_hits(self.st, self.us, self.dmg, e, u, np.array(origin.hits, np.int64))

    def _observe(self, envs: np.ndarray) -> None:
        obs = np.zeros((len(envs),) + self.obs_out.shape[1:], np.float32)
        state = np.zeros((len(envs),) + self.state_out.shape[1:], np.float32)
        avail = np.zeros((len(envs),) + self.avail_out.shape[1:])
        k.observe(
            self.st,
            self.sti,
            self.us,
            self.utype,
            self.terrain,
            envs,
            self.agent_slots,
            self.enemy_slots,
            self.n_types,
            self.ally_shields,
            self.enemy_shields,
            self.map_w,
            self.map_h,
            obs,
            state,
            avail,
        )
        self.obs_out[envs] = obs
        self.state_out[envs] = state
        self.avail_out[envs] = avail

    def alive(self, e: int) -> tuple[int, int]:
        """(allies alive, enemies alive) in env e."""
        live = self.sti[e, :, k.LIVE]
        return int(live[self.agent_slots].sum()), int(live[self.enemy_slots].sum())


def _kamikaze(unit: Any) -> bool:
    from smaclite.env.units.targeters.targeter import KamikazeTargeter

    return isinstance(unit.targeter, KamikazeTargeter)


def _laser(unit: Any) -> bool:
    from smaclite.env.units.targeters.targeter import LaserBeamTargeter

    return isinstance(unit.targeter, LaserBeamTargeter)


class _Shape:
    """What SMAClite's LaserBeamTargeter reads of a unit (its float32 position, squared
    radius), and, as the origin, the units it deals damage to."""

    def __init__(self, x: float, y: float, radius_sq: float, slot: int):
        self.pos = np.array([x, y], np.float32)
        self.radius_sq = radius_sq
        self.slot = slot
        self.hits: list[int] = []

    def deal_damage(self, target: "_Shape") -> float:
        self.hits.append(target.slot)
        return 0.0


class _Found:
    """A neighbour finder whose one query's answer is known (the tree's, from the
    kernels' emulation of sklearn's)."""

    def __init__(self, neighbours: list[_Shape]):
        self.neighbours = neighbours

    def query_radius(self, units: list[Any], radius: float) -> list[list[_Shape]]:  # noqa: ARG002
        return [self.neighbours]
