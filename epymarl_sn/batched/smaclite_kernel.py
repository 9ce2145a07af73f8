"""numba kernels of the batched SMAClite backend: SMAClite's world step, observations,
state and available actions for every env of a batch at once, value for value.

SMAClite mixes float32 (positions, and vectors derived from them alone) with float64
(everything else) and NumPy picks each operation's precision from its operands. Every
vector here therefore carries a flag saying whether SMAClite would hold it as float32;
the values are kept in float64 (a float32 is exact there) and an operation on two float32
operands is rounded to float32 (`_r32`): for +, -, *, / and sqrt, rounding the exact
float64 result gives the float32 result. A Python float meeting a float32 operand is cast
to float32 first (NumPy 2's weak scalars), comparisons included.

NumPy's float64 `inner` and `linalg.norm` of 2-vectors go through BLAS `ddot`, whose
kernel may fuse the second product into the sum (`DOT_FMA`, found at import by
`batched.smaclite.blas_dot_fma`); float32 ones are plain.
"""

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import intrinsic

# command codes (SMAClite's unit_command classes)
NOOP, STOP, MOVE, ATTACK, ATTACK_MOVE = 0, 1, 2, 3, 4
GAME_TICK_TIME = 1 / 16
STEP_MUL = 8
AGENT_SIGHT_RANGE = 9
AGENT_TARGET_RANGE = 6
INF = np.inf


@intrinsic
def _fma(typingctx, a, b, c):  # noqa: ARG001 (numba's signature)
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.fma(*args)

    return sig, codegen


# `x ** 2` of a Python float or a NumPy scalar is libm's pow, which is not always the
# rounded square: called by glibc's other names for it, which LLVM does not rewrite
_pow64 = types.ExternalFunction("powf64", types.float64(types.float64, types.float64))
_pow32 = types.ExternalFunction("powf32", types.float32(types.float32, types.float32))


@njit(cache=True, inline="always", error_model="numpy")
def _sq64(x):
    return _pow64(x, 2.0)  # type: ignore[call-overload]


@njit(cache=True, inline="always", error_model="numpy")
def _sq32(x):
    return np.float64(_pow32(np.float32(x), np.float32(2.0)))  # type: ignore[call-overload]


@njit(cache=True, inline="always", error_model="numpy")
def _r32(x):
    return np.float64(np.float32(x))


@njit(cache=True, inline="always", error_model="numpy")
def _inner(ax, ay, a32, bx, by, b32, dot_fma):
    if a32 and b32:
        return _r32(_r32(ax * bx) + _r32(ay * by)), True
    if dot_fma:
        return _fma(ay, by, ax * bx), False  # type: ignore[call-arg]
    return ax * bx + ay * by, False


@njit(cache=True, inline="always", error_model="numpy")
def _inner_self(x, y, dot_fma):
    """`_inner` of a float64 vector with itself: its squared length."""
    return _inner(x, y, False, x, y, False, dot_fma)[0]


@njit(cache=True, inline="always", error_model="numpy")
def _norm(x, y, v32, dot_fma):
    sq, s32 = _inner(x, y, v32, x, y, v32, dot_fma)
    if s32:
        return _r32(np.sqrt(sq))
    return np.sqrt(sq)


@njit(cache=True, inline="always", error_model="numpy")
def _sub(ax, ay, a32, bx, by, b32):
    if a32 and b32:
        return _r32(ax - bx), _r32(ay - by), True
    return ax - bx, ay - by, False


@njit(cache=True, inline="always", error_model="numpy")
def _add(ax, ay, a32, bx, by, b32):
    if a32 and b32:
        return _r32(ax + bx), _r32(ay + by), True
    return ax + bx, ay + by, False


@njit(cache=True, inline="always", error_model="numpy")
def _scale(s, s32, x, y, v32):
    """NumPy scalar s (float32 when s32) times a vector."""
    if s32 and v32:
        return _r32(s * x), _r32(s * y), True
    return s * x, s * y, False


@njit(cache=True, inline="always", error_model="numpy")
def _scale_weak(s, x, y, v32):
    """Python float s times a vector: s takes the vector's precision."""
    if v32:
        s = _r32(s)
        return _r32(s * x), _r32(s * y), True
    return s * x, s * y, False


@njit(cache=True, inline="always", error_model="numpy")
def _div(x, y, v32, s, s32):
    if s32 and v32:
        return _r32(x / s), _r32(y / s), True
    return x / s, y / s, False


@njit(cache=True, inline="always", error_model="numpy")
def _det(ax, ay, a32, bx, by, b32):
    if a32 and b32:
        return _r32(_r32(ax * by) - _r32(ay * bx)), True
    return ax * by - ay * bx, False


@njit(cache=True, inline="always", error_model="numpy")
def _normalize(x, y, v32, dot_fma):
    n = _norm(x, y, v32, dot_fma)
    return _div(x, y, v32, n, v32)


@njit(cache=True, error_model="numpy")
def inside_circle(px, py, cx, cy, radius):
    """smaclite.env.util.point_inside_circle on float32 positions, radius a Python float."""
    r = _r32(radius)
    dx = abs(_r32(px - cx))
    dy = abs(_r32(py - cy))
    if dx > r or dy > r:
        return False
    if _r32(dx + dy) <= r:
        return True
    return _r32(_r32(dx * dx) + _r32(dy * dy)) <= _r32(_sq64(radius))


# ---------------------------------------------------------------------------------------
# sklearn's KDTree.query_radius. SMAClite's trees hold fewer than 81 units, so each is one
# leaf (sklearn: n_levels = int(log2(max(1, (n - 1) / 40))) + 1) holding the units in the
# order they were given: the units alive, by id.


@njit(cache=True, error_model="numpy")
def tree_query(pos, e, pts, npts, qx, qy, r, out_slot, out_dist, n):
    """Append to out_slot/out_dist, from index n, the units `pts[:npts]` within r of
    (qx, qy), in sklearn's order with sklearn's distances; returns the new count."""
    if npts == 0:
        return n
    lb = 0.0
    ub = 0.0
    for j in range(2):
        lo = INF
        hi = -INF
        for i in range(npts):
            v = pos[e, pts[i], j]
            lo = min(lo, v)
            hi = max(hi, v)
        q = qx if j == 0 else qy
        d_lo = lo - q
        d_hi = q - hi
        d = (d_lo + abs(d_lo)) + (d_hi + abs(d_hi))
        lb += (0.5 * d) * (0.5 * d)
        m = max(abs(d_lo), abs(d_hi))
        ub += m * m
    if np.sqrt(lb) > r:
        return n
    all_in = np.sqrt(ub) <= r
    rr = r * r
    for i in range(npts):
        dx = pos[e, pts[i], 0] - qx
        dy = pos[e, pts[i], 1] - qy
        d = dx * dx + dy * dy
        if all_in or d <= rr:
            out_slot[n] = pts[i]
            out_dist[n] = np.sqrt(d)
            n += 1
    return n


# ---------------------------------------------------------------------------------------
# SMAClite's shuffle of its units at each world step: `Generator.shuffle` of a list, on
# each env's PCG64 (numpy's untyped path: for i from n - 1 down to 1, swap i with
# random_interval(i), a masked draw of next_uint32, which hands out each 64-bit output's
# low half, then keeps its high half for the next call). A generator is a row of uint64:
# state high, state low, increment high, increment low, has_uint32, uinteger.
PCG_MULT_HI = np.uint64(2549297995355413924)  # PCG's default 128-bit multiplier
PCG_MULT_LO = np.uint64(4865540595714422341)


@njit(cache=True)
def _mulhi64(a, b):
    """The high 64 bits of a * b."""
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    a_lo, a_hi = a & m32, a >> s32
    b_lo, b_hi = b & m32, b >> s32
    lh = a_lo * b_hi
    hl = a_hi * b_lo
    mid = ((a_lo * b_lo) >> s32) + (lh & m32) + (hl & m32)
    return a_hi * b_hi + (lh >> s32) + (hl >> s32) + (mid >> s32)


@njit(cache=True)
def _pcg64_next64(rng):
    """pcg_setseq_128_xsl_rr_64_random_r: advance the 128-bit state, then output."""
    sh, sl = rng[0], rng[1]
    lo = sl * PCG_MULT_LO
    hi = sh * PCG_MULT_LO + sl * PCG_MULT_HI + _mulhi64(sl, PCG_MULT_LO)
    lo2 = lo + rng[3]
    hi = hi + rng[2] + (np.uint64(1) if lo2 < lo else np.uint64(0))
    rng[0] = hi
    rng[1] = lo2
    v = hi ^ lo2
    r = hi >> np.uint64(58)
    return (v >> r) | (v << ((np.uint64(64) - r) & np.uint64(63)))


@njit(cache=True)
def _pcg64_next32(rng):
    if rng[4]:
        rng[4] = 0
        return rng[5]
    n = _pcg64_next64(rng)
    rng[4] = 1
    rng[5] = n >> np.uint64(32)
    return n & np.uint64(0xFFFFFFFF)


@njit(cache=True)
def _random_interval(rng, mx):
    if mx == 0:
        return 0
    mask = np.uint64(mx)
    for s in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(s)
    while True:
        v = _pcg64_next32(rng) & mask
        if v <= np.uint64(mx):
            return np.int64(v)


@njit(cache=True)
def shuffles(sti, envs, rngs, perms):
    """perms[i]: the order env envs[i]'s generator (rngs[i]) gives its units alive, as
    SMAClite's shuffle of them."""
    for i in range(envs.shape[0]):
        n = 0
        for u in range(sti.shape[1]):
            n += sti[envs[i], u, LIVE]
        for k in range(n):
            perms[i, k] = k
        for k in range(n - 1, 0, -1):
            j = _random_interval(rngs[i], k)
            perms[i, k], perms[i, j] = perms[i, j], perms[i, k]


# ---------------------------------------------------------------------------------------
# the batch's arrays: st[e, u, *] (float64) and sti[e, u, *] (int64) per env e and unit u
# (units by SMAClite's overall id: the order they were placed), us[u, *] the units' stats

# st
PX, PY, VX, VY, NVX, NVY, PFX, PFY, HP, SH, CD, SCD, CPX, CPY = range(14)
EN, HEALAV = 14, 15  # energy, healing_available (a healer's)
N_ST = 16
# sti: in SMAClite's dicts; velocity, next and preferred velocity held as float32;
# command, its target unit, the unit's target, attacking, count of potential targets,
# the target at the world step's start (prev_target), count of priority targets
LIVE, V32, NV32, PF32, CMD, CTGT, TGT, ATK, POTN, PREV, PRION = range(11)
N_STI = 11
# us
RAD, RADSQ, SPEED, MAXHP, MAXSH, ARMOR, ATTACKS, MAXCD, ARANGE, SCAN = range(10)
REGEN, HASREGEN, ORAD, ORADSQ, FAC, FID = range(10, 16)
# the unit's plane (PLANE_*), the planes it can target (bit 1 << plane), its kamikaze
# radius (0: none), whether its attack is a laser (the laser's hits are found by SMAClite's
# own numpy code, between calls of `unit_steps`)
PLANE, VALID, KAMI, LASER = range(16, 20)
HEAL, MAXEN = 20, 21  # a healer (combat priority 0), its maximum energy
N_US = 22
PLANE_GROUND, PLANE_AIR, PLANE_COLOSSUS = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _within_attack_range(st, us, e, u, t):
    radius = us[u, ARANGE] + us[t, RAD] + us[u, RAD]
    return inside_circle(st[e, u, PX], st[e, u, PY], st[e, t, PX], st[e, t, PY], radius)


@njit(cache=True, error_model="numpy")
def _move_pref(st, sti, us, pot_slot, e, u, tx, ty, t32, dot_fma):
    """MoveCommand(target).prepare_velocity: the preferred velocity towards (tx, ty); a
    healer goes no faster than the slowest of its potential targets."""
    if us[u, SPEED] == 0:
        return 0.0, 0.0, False
    speed = us[u, SPEED]
    if us[u, HEAL]:
        for k in range(sti[e, u, POTN]):
            if k == 0:
                speed = us[pot_slot[e, u, k], SPEED]
            else:
                speed = min(speed, us[pot_slot[e, u, k], SPEED])
    dx, dy, d32 = _sub(tx, ty, t32, st[e, u, PX], st[e, u, PY], True)
    distance = _norm(dx, dy, d32, dot_fma)
    if distance == 0:
        return 0.0, 0.0, False
    px, py, p32 = _scale_weak(speed, dx, dy, d32)
    return _div(px, py, p32, distance, d32)


@njit(cache=True, error_model="numpy")
def _can_target(us, u, t):
    """t's plane is in u's valid targets."""
    return (int(us[u, VALID]) >> int(us[t, PLANE])) & 1 == 1


@njit(cache=True, error_model="numpy")
def _attack_pref(st, sti, us, pot_slot, e, u, t, dot_fma):
    """AttackUnitCommand(t).prepare_velocity: a target out of range, or on a plane the
    unit cannot attack (a marauder's medivac), is walked to."""
    if not _within_attack_range(st, us, e, u, t) or not _can_target(us, u, t):
        return _move_pref(st, sti, us, pot_slot, e, u, st[e, t, PX], st[e, t, PY], True, dot_fma)
    sti[e, u, ATK] = 1
    return 0.0, 0.0, False


@njit(cache=True, error_model="numpy")
def _pick_target(st, sti, us, pot_slot, pot_dist, n_pot, e, u):
    """AttackMoveCommand.__pick_target_damage over the unit's first n_pot potential (or
    priority) targets: the first with the least (priority, distance), a healer's
    priority 0 before a damage dealer's 1."""
    best = -1
    best_p = 0.0
    best_d = 0.0
    for k in range(n_pot):
        v = pot_slot[e, u, k]
        d = pot_dist[e, u, k]
        candidate = st[e, v, HP] > 0 and (d < us[u, SCAN] + us[v, RAD] or sti[e, v, TGT] == u)
        p = 1.0 - us[v, HEAL]
        if candidate and (best < 0 or p < best_p or (p == best_p and d < best_d)):
            best = v
            best_p = p
            best_d = d
    return best


@njit(cache=True, error_model="numpy")
def _pick_heal(st, sti, us, pot_slot, pot_dist, e, u):
    """AttackMoveCommand.__pick_target_healing: the first potential target with the least
    health, alive, in scan range, hurt or with a target."""
    best = -1
    for k in range(sti[e, u, POTN]):
        v = pot_slot[e, u, k]
        d = pot_dist[e, u, k]
        if not (st[e, v, HP] > 0 and d < us[u, SCAN] + us[v, RAD]):
            continue
        if not (st[e, v, HP] < us[v, MAXHP] or sti[e, v, TGT] >= 0):
            continue
        if best < 0 or st[e, v, HP] < st[e, best, HP]:
            best = v
    return best


@njit(cache=True, error_model="numpy")
def _heal(st, sti, us, e, u, t):
    """Unit.heal: 9 hp a second, 3 hp per energy, drawn one energy at a time."""
    if (sti[e, u, PREV] != sti[e, u, TGT] and st[e, u, EN] < 5) or st[e, t, HP] == us[t, MAXHP]:
        sti[e, u, TGT] = -1
        return
    missing = us[t, MAXHP] - st[e, t, HP]
    desired = min(missing, 9 / 16)
    if st[e, u, HEALAV] < desired:
        spent = min(1.0, st[e, u, EN])
        st[e, u, EN] -= spent
        st[e, u, HEALAV] += spent * 3
    amount = min(desired, st[e, u, HEALAV])
    st[e, u, HEALAV] -= amount
    st[e, t, HP] += amount


@njit(cache=True, error_model="numpy")
def _query_side(st, sti, us, e, side, mask, qx, qy, r, out_slot, out_dist, n, buf):
    """A neighbour finder's query_radius over one side (`side`: its slots in id order):
    each plane's tree (the side's units alive on it, in id order) whose bit is in mask,
    answers appended plane by plane."""
    for plane in range(3):
        if not (mask >> plane) & 1:
            continue
        n_plane = 0
        for v in side:
            if sti[e, v, LIVE] and us[v, PLANE] == plane:
                buf[n_plane] = v
                n_plane += 1
        n = tree_query(st, e, buf, n_plane, qx, qy, r, out_slot, out_dist, n)
    return n


@njit(cache=True, error_model="numpy")
def _targeting_mask(us, u):
    """The planes a targeting query of u's keeps (targetting_mode): those it can target,
    and the colossus'."""
    return int(us[u, VALID]) | (1 << PLANE_COLOSSUS)


@njit(cache=True, error_model="numpy")
def _scan_query(st, sti, us, e, u, side, max_radius, slot, dist, buf):
    """u's targeting query of `side` within its scan range (+ max_radius), answers into
    slot[e, u] and dist[e, u] from 0; their count."""
    qx, qy, r = st[e, u, PX], st[e, u, PY], us[u, SCAN] + max_radius
    mask = _targeting_mask(us, u)
    return _query_side(st, sti, us, e, side, mask, qx, qy, r, slot[e, u], dist[e, u], 0, buf)


@njit(cache=True, error_model="numpy")
def _take_damage(st, us, e, t, amount):
    if st[e, t, HP] == 0:
        return
    if us[t, MAXSH] > 0:
        st[e, t, SCD] = 10.0
    if st[e, t, SH] > 0:
        shielded = min(amount, st[e, t, SH])
        st[e, t, SH] -= shielded
        amount -= shielded
    dealt = max(0.0, min(amount - us[t, ARMOR], st[e, t, HP]))
    st[e, t, HP] -= dealt


@njit(cache=True, error_model="numpy")
def _deal_damage(st, us, dmg, e, u, t):
    for _ in range(int(us[u, ATTACKS])):
        _take_damage(st, us, e, t, dmg[u, t])


@njit(cache=True, error_model="numpy")
def apply_hits(st, us, dmg, e, u, hits):
    """u's laser hits the units `hits` (found by SMAClite's own targeter)."""
    for t in hits:
        _deal_damage(st, us, dmg, e, u, t)


@njit(cache=True, error_model="numpy")
def _kamikaze(st, us, dmg, pos0, e, u, opp, n_opp, nb_slot, nb_dist, max_radius):
    """KamikazeTargeter.target: the unit dies and hits every unit of the other side the
    tree (built at the world step's start: `pos0`, the units then alive) finds within its
    radius and max_radius, where point_inside_circle (the positions now) agrees."""
    st[e, u, HP] = 0
    n = tree_query(
        pos0,
        e,
        opp,
        n_opp,
        st[e, u, PX],
        st[e, u, PY],
        us[u, KAMI] + max_radius,
        nb_slot,
        nb_dist,
        0,
    )
    for k in range(n):
        t = nb_slot[k]
        if inside_circle(
            st[e, t, PX], st[e, t, PY], st[e, u, PX], st[e, u, PY], us[u, KAMI] + us[t, RAD]
        ):
            _deal_damage(st, us, dmg, e, u, t)


@njit(cache=True, error_model="numpy")
def _attack_execute(st, sti, us, dmg, pos0, e, u, t, opp, n_opp, nb_slot, nb_dist, max_radius):
    """AttackUnitCommand(t).execute (the move's execute does nothing). True where a
    laser fires: its hits are for the caller."""
    if sti[e, u, ATK] == 0:
        return False
    sti[e, u, ATK] = 0
    if st[e, u, CD] > 0:
        return False
    st[e, u, CD] = us[u, MAXCD]
    if us[u, LASER]:
        return True
    if us[u, HEAL]:
        _heal(st, sti, us, e, u, t)
    elif us[u, KAMI] > 0:
        _kamikaze(st, us, dmg, pos0, e, u, opp, n_opp, nb_slot, nb_dist, max_radius)
    else:
        _deal_damage(st, us, dmg, e, u, t)
    return False


# ---------------------------------------------------------------------------------------
# SMAClite's numpy port of RVO2 (smaclite/env/rvo2/rvo2.py), line for line. A line is a
# row of `lines`: direction (x, y, float32?), point (x, y, float32?)
LDX, LDY, LD32, LPX, LPY, LP32 = range(6)


@njit(cache=True, inline="always", error_model="numpy")
def _set_line(lines, i, dx, dy, d32, px, py, p32):
    lines[i, LDX] = dx
    lines[i, LDY] = dy
    lines[i, LD32] = d32
    lines[i, LPX] = px
    lines[i, LPY] = py
    lines[i, LP32] = p32


@njit(cache=True, error_model="numpy")
def _lp1(lines, line_no, max_velocity, prx, pry, pr32, optimize_direction, dot_fma):
    """linear_program_1: (ok, x, y, float32?)."""
    dx, dy, d32 = lines[line_no, LDX], lines[line_no, LDY], lines[line_no, LD32] > 0
    px, py, p32 = lines[line_no, LPX], lines[line_no, LPY], lines[line_no, LP32] > 0
    dot, dot32 = _inner(px, py, p32, dx, dy, d32, dot_fma)
    mv2 = _sq64(max_velocity)
    if dot32:
        a = _r32(_sq32(dot) + _r32(mv2))
    else:
        a = _sq64(dot) + mv2
    lsq, lsq32 = _inner(px, py, p32, px, py, p32, dot_fma)
    disc32 = dot32 and lsq32
    disc = _r32(a - lsq) if disc32 else a - lsq
    if disc < 0:
        return False, 0.0, 0.0, False
    sq = _r32(np.sqrt(disc)) if disc32 else np.sqrt(disc)
    tl32 = dot32 and disc32
    t_left = _r32(-dot - sq) if tl32 else -dot - sq
    t_right = _r32(-dot + sq) if tl32 else -dot + sq
    tr32 = tl32
    for o in range(line_no):
        odx, ody, od32 = lines[o, LDX], lines[o, LDY], lines[o, LD32] > 0
        opx, opy, op32 = lines[o, LPX], lines[o, LPY], lines[o, LP32] > 0
        den, den32 = _det(dx, dy, d32, odx, ody, od32)
        rx, ry, r32 = _sub(px, py, p32, opx, opy, op32)
        num, num32 = _det(odx, ody, od32, rx, ry, r32)
        if abs(den) < (_r32(1e-5) if den32 else 1e-5):
            if num < 0:
                return False, 0.0, 0.0, False
            continue
        t32 = num32 and den32
        t = _r32(num / den) if t32 else num / den
        if den >= 0:
            if t < t_right:
                t_right = t
                tr32 = t32
        else:
            if t > t_left:
                t_left = t
                tl32 = t32
        if t_left > t_right:
            return False, 0.0, 0.0, False
    if optimize_direction:
        ip, _ = _inner(prx, pry, pr32, dx, dy, d32, dot_fma)
        if ip > 0:
            sx, sy, s32 = _scale(t_right, tr32, dx, dy, d32)
        else:
            sx, sy, s32 = _scale(t_left, tl32, dx, dy, d32)
        x, y, x32 = _add(px, py, p32, sx, sy, s32)
        return True, x, y, x32
    wx, wy, w32 = _sub(prx, pry, pr32, px, py, p32)
    t, t32 = _inner(dx, dy, d32, wx, wy, w32, dot_fma)
    if t < t_left:
        sx, sy, s32 = _scale(t_left, tl32, dx, dy, d32)
    elif t > t_right:
        sx, sy, s32 = _scale(t_right, tr32, dx, dy, d32)
    else:
        sx, sy, s32 = _scale(t, t32, dx, dy, d32)
    x, y, x32 = _add(px, py, p32, sx, sy, s32)
    return True, x, y, x32


@njit(cache=True, error_model="numpy")
def _lp2(lines, n_lines, max_velocity, prx, pry, pr32, optimize_direction, rx, ry, r32, dot_fma):
    """linear_program_2: (lines satisfied, x, y, float32?); (rx, ry, r32) is the result
    passed in, used only when optimising a direction (then overwritten, as SMAClite)."""
    if optimize_direction:
        rx, ry, r32 = _scale_weak(max_velocity, prx, pry, pr32)
    else:
        lsq, lsq32 = _inner(prx, pry, pr32, prx, pry, pr32, dot_fma)
        mv2 = _sq64(max_velocity)
        if lsq > (_r32(mv2) if lsq32 else mv2):
            nx, ny, n32 = _normalize(prx, pry, pr32, dot_fma)
            rx, ry, r32 = _scale_weak(max_velocity, nx, ny, n32)
        else:
            rx, ry, r32 = prx, pry, pr32
    for i in range(n_lines):
        ax, ay, a32 = _sub(lines[i, LPX], lines[i, LPY], lines[i, LP32] > 0, rx, ry, r32)
        d, _ = _det(lines[i, LDX], lines[i, LDY], lines[i, LD32] > 0, ax, ay, a32)
        if d <= 0:
            continue
        ok, x, y, x32 = _lp1(lines, i, max_velocity, prx, pry, pr32, optimize_direction, dot_fma)
        if not ok:
            return i, rx, ry, r32
        rx, ry, r32 = x, y, x32
    return n_lines, rx, ry, r32


@njit(cache=True, error_model="numpy")
def _lp3(lines, n_lines, n_obstacle, n_success, max_velocity, rx, ry, r32, new_lines, dot_fma):
    """linear_program_3."""
    distance = 0.0
    for i in range(n_success, n_lines):
        dx, dy, d32 = lines[i, LDX], lines[i, LDY], lines[i, LD32] > 0
        px, py, p32 = lines[i, LPX], lines[i, LPY], lines[i, LP32] > 0
        ax, ay, a32 = _sub(px, py, p32, rx, ry, r32)
        d, _ = _det(dx, dy, d32, ax, ay, a32)
        if d <= distance:
            continue
        n_new = n_obstacle
        new_lines[:n_obstacle] = lines[:n_obstacle]
        for o in range(n_obstacle, i):
            odx, ody, od32 = lines[o, LDX], lines[o, LDY], lines[o, LD32] > 0
            opx, opy, op32 = lines[o, LPX], lines[o, LPY], lines[o, LP32] > 0
            det_, det32 = _det(dx, dy, d32, odx, ody, od32)
            if abs(det_) <= (_r32(1e-5) if det32 else 1e-5):
                ip, _ = _inner(dx, dy, d32, odx, ody, od32, dot_fma)
                if ip > 0:
                    continue
                sx, sy, s32 = _add(px, py, p32, opx, opy, op32)
                npx, npy, np32 = _scale_weak(0.5, sx, sy, s32)
            else:
                wx, wy, w32 = _sub(px, py, p32, opx, opy, op32)
                num, num32 = _det(odx, ody, od32, wx, wy, w32)
                q32 = num32 and det32
                q = _r32(num / det_) if q32 else num / det_
                sx, sy, s32 = _scale(q, q32, dx, dy, d32)
                npx, npy, np32 = _add(px, py, p32, sx, sy, s32)
            vx, vy, v32 = _sub(odx, ody, od32, dx, dy, d32)
            ndx, ndy, nd32 = _normalize(vx, vy, v32, dot_fma)
            _set_line(new_lines, n_new, ndx, ndy, nd32, npx, npy, np32)
            n_new += 1
        tx, ty, t32 = rx, ry, r32
        ok, rx, ry, r32 = _lp2(
            new_lines, n_new, max_velocity, -dy, dx, d32, True, rx, ry, r32, dot_fma
        )
        if ok < n_new:
            rx, ry, r32 = tx, ty, t32
        ax, ay, a32 = _sub(px, py, p32, rx, ry, r32)
        distance, _ = _det(dx, dy, d32, ax, ay, a32)
    return rx, ry, r32


@njit(cache=True, error_model="numpy")
def _obstacle_in_range(st, us, obs, e, u, o):
    """StaticObstacle.is_within_range (float32 arithmetic on the unit's position)."""
    radius = us[u, ORAD]
    r = _r32(radius)
    dx = max(0.0, _r32(abs(_r32(st[e, u, PX] - _r32(obs[o, OCX]))) - _r32(obs[o, OHW])))
    if dx > r:
        return False
    dy = max(0.0, _r32(abs(_r32(st[e, u, PY] - _r32(obs[o, OCY]))) - _r32(obs[o, OHH])))
    if dy > r:
        return False
    if _r32(dx + dy) <= r:
        return True
    return _r32(_sq32(dx) + _sq32(dy)) <= _r32(us[u, ORADSQ])


# obs[o, *]: a static obstacle: centre, half sizes, its 4 lines' points and directions
OCX, OCY, OHW, OHH = range(4)
OLPX, OLPY, OLDX, OLDY = 4, 8, 12, 16  # + line index 0..3
N_OBS = 20


@njit(cache=True, error_model="numpy")
def _obstacle_lines(st, sti, us, obs, e, u, lines, dot_fma):
    """The obstacle half of compute_new_velocity: appends ORCA lines, returns how many.
    Returns -1 where SMAClite's own code would not give a plain vector."""
    n = 0
    ux, uy = st[e, u, PX], st[e, u, PY]
    # the velocity meets float64 obstacle vectors only: its precision does not matter here
    vx, vy = st[e, u, VX], st[e, u, VY]
    radius = us[u, RAD]
    radius_sq = us[u, RADSQ]
    for o in range(obs.shape[0]):
        if not _obstacle_in_range(st, us, obs, e, u, o):
            continue
        for i in range(4):
            i2 = (i + 1) % 4
            o1x, o1y = obs[o, OLPX + i], obs[o, OLPY + i]
            o2x, o2y = obs[o, OLPX + i2], obs[o, OLPY + i2]
            # left_of(o1, o2, unit.pos): det(o1 - pos, o2 - o1) < 0
            if not ((o1x - ux) * (o2y - o1y) - (o1y - uy) * (o2x - o1x) < 0):
                continue
            r1x, r1y = o1x - ux, o1y - uy
            r2x, r2y = o2x - ux, o2y - uy
            covered = False
            for k in range(n):
                a1 = (r1x - lines[k, LPX]) * lines[k, LDY] - (r1y - lines[k, LPY]) * lines[k, LDX]
                if not (a1 - radius >= -1e-5):
                    continue
                a2 = (r2x - lines[k, LPX]) * lines[k, LDY] - (r2y - lines[k, LPY]) * lines[k, LDX]
                if a2 - radius >= -1e-5:
                    covered = True
                    break
            if covered:
                continue
            dist_sq_1, _ = _inner(r1x, r1y, False, r1x, r1y, False, dot_fma)
            dist_sq_2, _ = _inner(r2x, r2y, False, r2x, r2y, False, dot_fma)
            ovx, ovy = o2x - o1x, o2y - o1y
            ip, _ = _inner(-r1x, -r1y, False, ovx, ovy, False, dot_fma)
            s = ip / (ovx * ovx + ovy * ovy)
            dist_sq_line = _inner_self(-r1x - s * ovx, -r1y - s * ovy, dot_fma)
            if s < 0 and dist_sq_1 < radius_sq:
                dx, dy, _ = _normalize(-r1y, r1x, False, dot_fma)
                _set_line(lines, n, dx, dy, 0, 0.0, 0.0, 0)
                n += 1
                continue
            elif s > 1 and dist_sq_2 <= radius_sq:
                if r2x * obs[o, OLDY + i2] - r2y * obs[o, OLDX + i2] < 0:
                    continue
                dx, dy, _ = _normalize(-r2y, r2x, False, dot_fma)
                _set_line(lines, n, dx, dy, 0, 0.0, 0.0, 0)
                n += 1
                continue
            elif s > 0 and s < 1 and dist_sq_line <= radius_sq:
                _set_line(lines, n, -obs[o, OLDX + i], -obs[o, OLDY + i], 0, 0.0, 0.0, 0)
                n += 1
                continue
            j1, j2 = i, i2  # o1 and o2 as line indices; equal when SMAClite's o1 is o2
            if s < 0 and dist_sq_line <= radius_sq:
                j2 = i
                leg_1 = np.sqrt(dist_sq_1 - radius_sq)
                llx = (r1x * leg_1 - r1y * radius) / dist_sq_1
                lly = (r1x * radius + r1y * leg_1) / dist_sq_1
                rlx = (r1x * leg_1 + r1y * radius) / dist_sq_1
                rly = (-r1x * radius + r1y * leg_1) / dist_sq_1
            elif s > 1 and dist_sq_line <= radius_sq:
                j1 = i2
                leg_2 = np.sqrt(dist_sq_2 - radius_sq)
                llx = (r2x * leg_2 - r2y * radius) / dist_sq_2
                lly = (r2x * radius + r2y * leg_2) / dist_sq_2
                rlx = (r2x * leg_2 + r2y * radius) / dist_sq_2
                rly = (-r2x * radius + r2y * leg_2) / dist_sq_2
            else:
                leg_1 = np.sqrt(dist_sq_1 - radius_sq)
                llx = (r1x * leg_1 - r1y * radius) / dist_sq_1
                lly = (r1x * radius + r1y * leg_1) / dist_sq_1
                leg_2 = np.sqrt(dist_sq_2 - radius_sq)
                rlx = (r2x * leg_2 + r2y * radius) / dist_sq_2
                rly = (-r2x * radius + r2y * leg_2) / dist_sq_2
            ln = (i + 3) % 4  # o.lines[i - 1]
            left_foreign = False
            right_foreign = False
            nlx, nly = -obs[o, OLDX + ln], -obs[o, OLDY + ln]
            if llx * nly - lly * nlx >= 0:
                llx, lly = nlx, nly
                left_foreign = True
            o2dx, o2dy = obs[o, OLDX + j2], obs[o, OLDY + j2]
            if rlx * o2dy - rly * o2dx <= 0:
                rlx, rly = o2dx, o2dy
                right_foreign = True
            lcx, lcy = obs[o, OLPX + j1] - ux, obs[o, OLPY + j1] - uy
            rcx, rcy = obs[o, OLPX + j2] - ux, obs[o, OLPY + j2] - uy
            cvx, cvy = rcx - lcx, rcy - lcy
            same = j1 == j2
            wlx, wly = vx - lcx, vy - lcy
            wrx, wry = vx - rcx, vy - rcy
            if same:
                t = 0.5
            else:
                a, _ = _inner(wlx, wly, False, cvx, cvy, False, dot_fma)
                b, _ = _inner(cvx, cvy, False, cvx, cvy, False, dot_fma)
                t = a / b
            t_left, _ = _inner(wlx, wly, False, llx, lly, False, dot_fma)
            t_right, _ = _inner(wrx, wry, False, rlx, rly, False, dot_fma)
            if (t < 0 and t_left < 0) or (same and t_left < 0 and t_right < 0):
                wx, wy, _ = _normalize(wlx, wly, False, dot_fma)
                _set_line(lines, n, wy, -wx, 0, lcx + radius * wx, lcy + radius * wy, 0)
                n += 1
                continue
            elif t > 1 and t_right < 0:
                wx, wy, _ = _normalize(wrx, wry, False, dot_fma)
                _set_line(lines, n, wy, -wx, 0, rcx + radius * wx, rcy + radius * wy, 0)
                n += 1
                continue
            if t < 0 or t > 1 or same:
                dsc = INF
            else:
                dsc = _inner_self(vx - (lcx + t * cvx), vy - (lcy + t * cvy), dot_fma)
            if t_left < 0:
                dsl = INF
            else:
                dsl = _inner_self(vx - (lcx + t_left * llx), vy - (lcy + t_left * lly), dot_fma)
            if t_right < 0:
                dsr = INF
            else:
                dsr = _inner_self(vx - (rcx + t_right * rlx), vy - (rcy + t_right * rly), dot_fma)
            # SMAClite's point here is cutoff + radius * np.array(-dir[1], dir[0]): a 0-d
            # array (dir[0] is read as its dtype), the same offset added to x and y
            if dsc <= dsl and dsc <= dsr:
                dx, dy = -obs[o, OLDX + j1], -obs[o, OLDY + j1]
                off = radius * -dy
                _set_line(lines, n, dx, dy, 0, lcx + off, lcy + off, 0)
                n += 1
            elif dsl <= dsr:
                if left_foreign:
                    continue
                off = radius * -lly
                _set_line(lines, n, llx, lly, 0, lcx + off, lcy + off, 0)
                n += 1
            else:
                if right_foreign:
                    continue
                off = radius * rly  # -dir[1] of dir = -right_leg
                _set_line(lines, n, -rlx, -rly, 0, rcx + off, rcy + off, 0)
                n += 1
    return n


@njit(cache=True, error_model="numpy")
def _new_velocity(st, sti, us, obs, e, u, nb_slot, nb_dist, n_nb, lines, new_lines, dot_fma):
    """compute_new_velocity: the unit's next velocity (x, y, float32?)."""
    prx, pry, pr32 = st[e, u, PFX], st[e, u, PFY], sti[e, u, PF32] > 0
    if (prx == 0 and pry == 0) or st[e, u, HP] == 0:
        return prx, pry, pr32
    # units off the ground (a medivac) fly over the terrain's obstacles
    n_obst = _obstacle_lines(st, sti, us, obs, e, u, lines, dot_fma) if us[u, PLANE] == 0 else 0
    n = n_obst
    ux, uy = st[e, u, PX], st[e, u, PY]
    vx, vy, v32 = st[e, u, VX], st[e, u, VY], sti[e, u, V32] > 0
    for k in range(n_nb):
        o = nb_slot[k]
        if o == u or st[e, o, HP] == 0:
            continue
        rpx, rpy = _r32(st[e, o, PX] - ux), _r32(st[e, o, PY] - uy)
        rvx, rvy, rv32 = _sub(vx, vy, v32, st[e, o, VX], st[e, o, VY], sti[e, o, V32] > 0)
        distance = nb_dist[k]
        distance_sq = _sq64(distance)
        cr = us[u, RAD] + us[o, RAD]
        cr_sq = _sq64(cr)
        moving = st[e, o, PFX] != 0 or st[e, o, PFY] != 0
        if distance_sq > cr_sq:
            wx, wy, w32 = _sub(rvx, rvy, rv32, rpx, rpy, True)
            wl_sq, _ = _inner(wx, wy, w32, wx, wy, w32, dot_fma)
            dot1, _ = _inner(wx, wy, w32, rpx, rpy, True, dot_fma)
            if w32:
                far = dot1 < 0 and _sq32(dot1) > _r32(_r32(cr_sq) * wl_sq)
            else:
                far = dot1 < 0 and _sq64(dot1) > cr_sq * wl_sq
            if far:
                w_length = _r32(np.sqrt(wl_sq)) if w32 else np.sqrt(wl_sq)
                uwx, uwy, uw32 = _div(wx, wy, w32, w_length, w32)
                ldx, ldy, ld32 = uwy, -uwx, uw32
                c = _r32(_r32(cr) - w_length) if w32 else cr - w_length
                ux_, uy_, uu32 = _scale(c, w32, uwx, uwy, uw32)
            else:
                leg = np.sqrt(distance_sq - cr_sq)
                dt, _ = _det(rpx, rpy, True, wx, wy, w32)
                a = _r32(rpy * _r32(cr))  # float32 times a Python float
                b = _r32(rpx * _r32(cr))
                if dt > 0:
                    ldx = (rpx * leg - a) / distance_sq
                    ldy = (b + rpy * leg) / distance_sq
                else:
                    ldx = (-rpx * leg - a) / distance_sq
                    ldy = (b - rpy * leg) / distance_sq
                ld32 = False
                dot2, _ = _inner(rvx, rvy, rv32, ldx, ldy, False, dot_fma)
                ux_, uy_ = dot2 * ldx - rvx, dot2 * ldy - rvy
                uu32 = False
        else:
            # inside each other: 16 ticks per second
            sx, sy, _ = _scale_weak(16.0, rpx, rpy, True)
            wx, wy, w32 = _sub(rvx, rvy, rv32, sx, sy, True)
            w_length = _norm(wx, wy, w32, dot_fma)
            uwx, uwy, uw32 = _div(wx, wy, w32, w_length, w32)
            ldx, ldy, ld32 = uwy, -uwx, uw32
            c = _r32(_r32(cr * 16) - w_length) if w32 else cr * 16 - w_length
            ux_, uy_, uu32 = _scale(c, w32, uwx, uwy, uw32)
        mx, my, m32 = _scale_weak(0.5 if moving else 1.0, ux_, uy_, uu32)
        px, py, p32 = _add(vx, vy, v32, mx, my, m32)
        _set_line(lines, n, ldx, ldy, ld32, px, py, p32)
        n += 1
    max_velocity = us[u, SPEED]
    ok, rx, ry, r32 = _lp2(lines, n, max_velocity, prx, pry, pr32, False, 0.0, 0.0, False, dot_fma)
    if ok < n:
        rx, ry, r32 = _lp3(lines, n, n_obst, ok, max_velocity, rx, ry, r32, new_lines, dot_fma)
    return rx, ry, r32


@njit(cache=True, error_model="numpy")
def _live_of(sti, e, first, end, pts):
    n = 0
    for u in range(first, end):
        if sti[e, u, LIVE]:
            pts[n] = u
            n += 1
    return n


@njit(cache=True, error_model="numpy")
def _live_in(sti, e, slots, pts):
    n = 0
    for u in slots:
        if sti[e, u, LIVE]:
            pts[n] = u
            n += 1
    return n


@njit(cache=True, error_model="numpy")
def world_prepare(
    st,
    sti,
    us,
    obs,
    pot_slot,
    pot_dist,
    prio_slot,
    prio_dist,
    pos0,
    envs,
    agent_slots,
    enemy_slots,
    attack_point,
    max_radius,
    dot_fma,
):
    """The first half of SMAClite's world step (`__world_step`) of each env in `envs`:
    targets cleaned up and picked, preferred and new velocities; `pos0` keeps the
    positions the KD-trees hold (they are rebuilt at a world step's end). Units are in
    SMAClite's overall id order; agent_slots[i] is agent i's unit, enemy_slots[j] enemy
    j's. `unit_steps` does the rest."""
    n_units = st.shape[1]
    pts = np.empty(n_units, np.int64)
    allies = np.empty(n_units, np.int64)
    nb_slot = np.empty(n_units, np.int64)
    nb_dist = np.empty(n_units)
    lines = np.empty((4 * obs.shape[0] + n_units, 6))
    new_lines = np.empty_like(lines)
    for i in range(envs.shape[0]):
        e = envs[i]
        # clean_up_target
        for u in range(n_units):
            if not sti[e, u, LIVE]:
                continue
            sti[e, u, POTN] = 0
            sti[e, u, PRION] = 0
            sti[e, u, PREV] = sti[e, u, TGT]
            c = sti[e, u, CMD]
            if c == ATTACK:
                t = sti[e, u, CTGT]
                sti[e, u, TGT] = t if st[e, t, HP] > 0 else -1
            elif c == ATTACK_MOVE:
                t = sti[e, u, TGT]
                if t < 0:
                    pass
                elif st[e, t, HP] == 0:
                    sti[e, u, TGT] = -1
                elif sti[e, t, TGT] == u:
                    pass
                elif not _within_attack_range(st, us, e, u, t):
                    sti[e, u, TGT] = -1
            else:
                sti[e, u, TGT] = -1
        # attack-moving enemies (damage dealers) without a target look for allies in scan
        # range, on the planes they can target
        n_allies = _live_in(sti, e, agent_slots, allies)
        any_moving = False
        for u in enemy_slots:
            if sti[e, u, LIVE] and not us[u, HEAL] and sti[e, u, TGT] < 0:
                any_moving = True
                sti[e, u, POTN] = _scan_query(
                    st, sti, us, e, u, agent_slots, max_radius, pot_slot, pot_dist, pts
                )
        if any_moving:
            for k in range(n_allies):
                u = allies[k]
                t = sti[e, u, TGT]
                if t >= 0 and _can_target(us, t, u):
                    n = sti[e, t, POTN]
                    pot_slot[e, t, n] = u
                    pot_dist[e, t, n] = 2e9
                    sti[e, t, POTN] = n + 1
        # heal-moving enemies without a target look for their own side's units (their
        # potential targets are these, whatever was appended above)
        for u in enemy_slots:
            if sti[e, u, LIVE] and us[u, HEAL] and sti[e, u, TGT] < 0:
                sti[e, u, POTN] = _scan_query(
                    st, sti, us, e, u, enemy_slots, max_radius, pot_slot, pot_dist, pts
                )
        # while an ally healer lives, enemies whose target is no healer look for
        # priority targets
        ally_healer = False
        for k in range(n_allies):
            if us[allies[k], HEAL]:
                ally_healer = True
        if ally_healer:
            for u in enemy_slots:
                t = sti[e, u, TGT]
                if sti[e, u, LIVE] and not us[u, HEAL] and t >= 0 and not us[t, HEAL]:
                    sti[e, u, PRION] = _scan_query(
                        st, sti, us, e, u, agent_slots, max_radius, prio_slot, prio_dist, pts
                    )
        # prepare_velocity
        for u in range(n_units):
            if not sti[e, u, LIVE]:
                continue
            c = sti[e, u, CMD]
            if c == ATTACK:
                x, y, f32 = _attack_pref(st, sti, us, pot_slot, e, u, sti[e, u, CTGT], dot_fma)
            elif c == MOVE:
                x, y, f32 = _move_pref(
                    st, sti, us, pot_slot, e, u, st[e, u, CPX], st[e, u, CPY], False, dot_fma
                )
            elif c == ATTACK_MOVE:
                if sti[e, u, TGT] < 0:
                    if us[u, HEAL]:
                        t = _pick_heal(st, sti, us, pot_slot, pot_dist, e, u)
                    else:
                        t = _pick_target(st, sti, us, pot_slot, pot_dist, sti[e, u, POTN], e, u)
                    if t >= 0:
                        sti[e, u, TGT] = t
                elif not us[u, HEAL] and sti[e, u, PRION] > 0:
                    t = _pick_target(st, sti, us, prio_slot, prio_dist, sti[e, u, PRION], e, u)
                    if t >= 0:
                        sti[e, u, TGT] = t
                if sti[e, u, TGT] < 0:
                    x, y, f32 = _move_pref(
                        st,
                        sti,
                        us,
                        pot_slot,
                        e,
                        u,
                        attack_point[0],
                        attack_point[1],
                        False,
                        dot_fma,
                    )
                else:
                    x, y, f32 = _attack_pref(st, sti, us, pot_slot, e, u, sti[e, u, TGT], dot_fma)
            else:
                x, y, f32 = 0.0, 0.0, False
            st[e, u, PFX] = x
            st[e, u, PFY] = y
            sti[e, u, PF32] = f32
        for u in range(n_units):
            pos0[e, u, 0] = st[e, u, PX]
            pos0[e, u, 1] = st[e, u, PY]
        # compute_new_velocities: neighbours from the tree of the units alive on the
        # unit's own plane (one tree per plane, its units in id order)
        for plane in range(3):
            n_plane = 0
            for u in range(n_units):
                if sti[e, u, LIVE] and us[u, PLANE] == plane:
                    pts[n_plane] = u
                    n_plane += 1
            for k in range(n_plane):
                u = pts[k]
                n_nb = tree_query(
                    st,
                    e,
                    pts,
                    n_plane,
                    st[e, u, PX],
                    st[e, u, PY],
                    max_radius + us[u, RAD],
                    nb_slot,
                    nb_dist,
                    0,
                )
                x, y, f32 = _new_velocity(
                    st, sti, us, obs, e, u, nb_slot, nb_dist, n_nb, lines, new_lines, dot_fma
                )
                st[e, u, NVX] = x
                st[e, u, NVY] = y
                sti[e, u, NV32] = f32


@njit(cache=True, error_model="numpy")
def unit_steps(
    st, sti, us, dmg, pos0, envs, perms, start, fired, agent_slots, enemy_slots, max_radius
):
    """The second half of the world step of each env envs[i]: the game steps of its units
    alive, in the shuffled order (`perms[i]`, the permutation its generator drew), from
    position start[i] on, then `__update_deaths`. Where a laser fires, env i stops there:
    fired[i] = (position, unit, target), for the caller to find the hits and resume at
    the next position; else fired[i, 0] = -1."""
    n_units = st.shape[1]
    pts = np.empty(n_units, np.int64)
    allies = np.empty(n_units, np.int64)
    enemies = np.empty(n_units, np.int64)
    nb_slot = np.empty(n_units, np.int64)
    nb_dist = np.empty(n_units)
    for i in range(envs.shape[0]):
        e = envs[i]
        fired[i, 0] = -1
        # alive at the world step's start: deaths are marked at its end
        n_live = _live_of(sti, e, 0, n_units, pts)
        n_allies = _live_in(sti, e, agent_slots, allies)
        n_enemies = _live_in(sti, e, enemy_slots, enemies)
        for k in range(start[i], n_live):
            u = pts[perms[i, k]]
            if st[e, u, HP] == 0:
                continue
            if us[u, FAC] == 0:
                opp, n_opp = enemies, n_enemies
            else:
                opp, n_opp = allies, n_allies
            t = _game_step(st, sti, us, dmg, pos0, e, u, opp, n_opp, nb_slot, nb_dist, max_radius)
            if t >= 0:
                fired[i, 0] = k
                fired[i, 1] = u
                fired[i, 2] = t
                break
        if fired[i, 0] >= 0:
            continue
        # __update_deaths
        for k in range(n_live):
            u = pts[k]
            if st[e, u, HP] == 0:
                sti[e, u, LIVE] = 0


@njit(cache=True, error_model="numpy")
def _game_step(st, sti, us, dmg, pos0, e, u, opp, n_opp, nb_slot, nb_dist, max_radius):
    """Unit.game_step; returns the target where its laser fires, else -1."""
    vx, vy, v32 = st[e, u, NVX], st[e, u, NVY], sti[e, u, NV32]
    st[e, u, VX] = vx
    st[e, u, VY] = vy
    sti[e, u, V32] = v32
    # pos (float32) += velocity * 1/16: the product is exact, the sum rounded once
    st[e, u, PX] = _r32(st[e, u, PX] + vx * GAME_TICK_TIME)
    st[e, u, PY] = _r32(st[e, u, PY] + vy * GAME_TICK_TIME)
    if st[e, u, CD] > 0:
        st[e, u, CD] = max(0.0, st[e, u, CD] - GAME_TICK_TIME)
    if st[e, u, SCD] > 0:
        st[e, u, SCD] = max(st[e, u, SCD] - GAME_TICK_TIME, 0.0)
    if st[e, u, SCD] == 0 and st[e, u, SH] < us[u, MAXSH]:
        st[e, u, SH] = min(st[e, u, SH] + 2 / 16, us[u, MAXSH])
    if st[e, u, EN] < us[u, MAXEN]:
        st[e, u, EN] = min(st[e, u, EN] + 0.5625 / 16, us[u, MAXEN])
    if us[u, HASREGEN] and st[e, u, HP] < us[u, MAXHP]:
        st[e, u, HP] = min(st[e, u, HP] + us[u, REGEN], us[u, MAXHP])
    c = sti[e, u, CMD]
    t = -1
    if c == ATTACK:
        t = sti[e, u, CTGT]
    elif c == ATTACK_MOVE:
        t = sti[e, u, TGT]
    elif c == STOP:
        sti[e, u, TGT] = -1
    if t >= 0 and _attack_execute(
        st, sti, us, dmg, pos0, e, u, t, opp, n_opp, nb_slot, nb_dist, max_radius
    ):
        return t
    return -1


@njit(cache=True, error_model="numpy")
def _can_move(st, e, u, d, terrain, map_w, map_h):
    """__can_move: one unit (half a move) in direction d (north, south, east, west)."""
    x = st[e, u, PX] + (0.0, 0.0, 1.0, -1.0)[d]
    y = st[e, u, PY] + (1.0, -1.0, 0.0, 0.0)[d]
    return 0 <= y < map_w and 0 <= x < map_h and terrain[int(y), int(x)]


@njit(cache=True, error_model="numpy")
def _type_features(out, base, u, utype, n_types):
    if n_types:
        out[base + utype[u]] = 1


@njit(cache=True, error_model="numpy")
def _unit_obs(st, us, out, base, t, dist, ox, oy, shields, first):
    out[base] = first
    out[base + 1] = dist / AGENT_SIGHT_RANGE
    out[base + 2] = _r32(_r32(st[t, PX] - ox) / AGENT_SIGHT_RANGE)
    out[base + 3] = _r32(_r32(st[t, PY] - oy) / AGENT_SIGHT_RANGE)
    out[base + 4] = st[t, HP] / us[t, MAXHP]
    base += 5
    if shields:
        out[base] = st[t, SH] / us[t, MAXSH]
        base += 1
    return base


@njit(cache=True, error_model="numpy")
def observe(
    st,
    sti,
    us,
    utype,
    terrain,
    envs,
    agent_slots,
    enemy_slots,
    n_types,
    ally_shields,
    enemy_shields,
    map_w,
    map_h,
    obs_out,
    state_out,
    avail_out,
):
    """get_obs, get_state (without the last actions) and get_avail_actions of each env in
    `envs` into row i of the outputs; utype[u] is the unit's type id (one-hot index)."""
    n_units = st.shape[1]
    n_agents = agent_slots.shape[0]
    n_enemies = enemy_slots.shape[0]
    cx, cy = map_w / 2, map_h / 2
    efs = 5 + enemy_shields + n_types
    afs = 5 + ally_shields + n_types
    asf = 4 + ally_shields + n_types
    esf = 3 + enemy_shields + n_types
    allies = np.empty(n_agents, np.int64)
    enemies = np.empty(n_enemies, np.int64)
    vis_slot = np.empty(n_units, np.int64)
    vis_dist = np.empty(n_units)
    buf = np.empty(n_units, np.int64)
    avail = np.empty(avail_out.shape[2])
    for i in range(envs.shape[0]):
        e = envs[i]
        obs_out[i] = 0
        state_out[i] = 0
        avail_out[i] = 0
        n_al = _live_in(sti, e, agent_slots, allies)
        n_en = _live_in(sti, e, enemy_slots, enemies)
        for a in range(n_agents):
            u = agent_slots[a]
            if not sti[e, u, LIVE]:
                avail_out[i, a, 0] = 1
                continue
            # get_avail_actions: every enemy alive (a healer's: every ally alive but the
            # healers), by point_inside_circle
            healer = us[u, HEAL] > 0
            avail_out[i, a, 1] = 1
            for d in range(4):
                avail_out[i, a, 2 + d] = _can_move(st, e, u, d, terrain, map_w, map_h)
            n_tg = n_al if healer else n_en
            for k in range(n_tg):
                t = allies[k] if healer else enemies[k]
                if t == u or (healer and us[t, HEAL]):
                    continue
                if st[e, t, HP] > 0 and inside_circle(
                    st[e, t, PX], st[e, t, PY], st[e, u, PX], st[e, u, PY], AGENT_TARGET_RANGE
                ):
                    avail_out[i, a, 6 + int(us[t, FID])] = 1
            # get_obs: the enemies and allies the agent sees (tree distances, each plane's
            # tree on its own); "can target" by those distances, of the enemies seen (a
            # healer's: of the allies seen, read at the enemies' ids, as SMAClite does)
            o = obs_out[i, a]
            ox, oy = st[e, u, PX], st[e, u, PY]
            n_va = _query_side(
                st,
                sti,
                us,
                e,
                agent_slots,
                7,
                ox,
                oy,
                AGENT_SIGHT_RANGE,
                vis_slot,
                vis_dist,
                0,
                buf,
            )
            n_ve = _query_side(
                st,
                sti,
                us,
                e,
                enemy_slots,
                7,
                ox,
                oy,
                AGENT_SIGHT_RANGE,
                vis_slot,
                vis_dist,
                n_va,
                buf,
            )
            avail[:] = 0
            lo, hi = (0, n_va) if healer else (n_va, n_ve)
            for k in range(lo, hi):
                t = vis_slot[k]
                if t != u and st[e, t, HP] > 0:
                    avail[6 + int(us[t, FID])] = vis_dist[k] <= AGENT_TARGET_RANGE
            for d in range(4):
                o[d] = avail_out[i, a, 2 + d]
            for k in range(n_va, n_ve):
                t = vis_slot[k]
                if st[e, t, HP] == 0:
                    continue
                j = int(us[t, FID])
                base = _unit_obs(
                    st[e], us, o, 4 + j * efs, t, vis_dist[k], ox, oy, enemy_shields, avail[6 + j]
                )
                _type_features(o, base, t, utype, n_types)
            for k in range(n_va):
                t = vis_slot[k]
                if t == u or st[e, t, HP] == 0:
                    continue
                j = int(us[t, FID])
                base = 4 + n_enemies * efs + (j - (1 if j > a else 0)) * afs
                base = _unit_obs(st[e], us, o, base, t, vis_dist[k], ox, oy, ally_shields, 1.0)
                _type_features(o, base, t, utype, n_types)
            base = 4 + n_enemies * efs + (n_agents - 1) * afs
            o[base] = st[e, u, HP] / us[u, MAXHP]
            if ally_shields:
                o[base + 1] = st[e, u, SH] / us[u, MAXSH]
                base += 1
            _type_features(o, base + 1, u, utype, n_types)
        # get_state
        s = state_out[i]
        for k in range(n_al):
            u = allies[k]
            base = int(us[u, FID]) * asf
            s[base] = st[e, u, HP] / us[u, MAXHP]
            if us[u, HEAL]:
                s[base + 1] = st[e, u, EN] / us[u, MAXEN]
            else:
                s[base + 1] = st[e, u, CD] / us[u, MAXCD]
            s[base + 2] = (st[e, u, PX] - cx) / map_w
            s[base + 3] = (st[e, u, PY] - cy) / map_h
            base += 4
            if ally_shields:
                s[base] = st[e, u, SH] / us[u, MAXSH]
                base += 1
            _type_features(s, base, u, utype, n_types)
        for k in range(n_en):
            u = enemies[k]
            base = n_agents * asf + int(us[u, FID]) * esf
            s[base] = st[e, u, HP] / us[u, MAXHP]
            s[base + 1] = (st[e, u, PX] - cx) / map_w
            s[base + 2] = (st[e, u, PY] - cy) / map_h
            base += 3
            if enemy_shields:
                s[base] = st[e, u, SH] / us[u, MAXSH]
                base += 1
            _type_features(s, base, u, utype, n_types)
