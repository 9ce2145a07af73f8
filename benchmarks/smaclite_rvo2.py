"""Speed of SMAClite's C++ RVO2 against its numpy port, on the paper's maps.

    python benchmarks/smaclite_rvo2.py [--maps 2s3z 3s5z_vs_3s6z 27m_vs_30m corridor]
        [--steps 600] [--repeats 1]

Plays the same seeded random battles (uniform over each agent's available actions,
resets included) with each collision avoidance and prints env steps per CPU second of
the process (one core's rate, which a machine busy with other work changes less than
the wall-clock rate), per wall-clock second, and the speed-up. With --repeats N the two
paths alternate, N runs each, and the medians are printed. Needs the C++ extension
(`epymarl-sn setup` builds it where g++ and cmake exist).
"""

import argparse
import contextlib
import io
import os
import statistics
import time

import gymnasium as gym
import numpy as np
import smaclite  # noqa: F401  (registers the smaclite/ envs)

from epymarl_sn.envs.installed import RVO2_INSTALL_HINT, rvo2_installed


def steps_per_second(map_name, use_cpp_rvo2, steps, seed):
    """(env steps per CPU second, per wall-clock second) of `steps` random steps."""
    with contextlib.redirect_stdout(io.StringIO()):  # SMAClite prints which RVO2 it uses
        env = gym.make(f"smaclite/{map_name}-v0", seed=seed, use_cpp_rvo2=use_cpp_rvo2)
    env = env.unwrapped
    rng = np.random.default_rng(seed)
    env.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        actions = [int(rng.choice(np.flatnonzero(a))) for a in env.get_avail_actions()]
        _, _, done, _, _ = env.step(actions)
        if done:
            env.reset()
    return steps / (time.process_time() - cpu), steps / (time.perf_counter() - wall)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--maps", nargs="+", default=["2s3z", "3s5z_vs_3s6z", "27m_vs_30m", "corridor"]
    )
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=1, help="runs per map and path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not rvo2_installed():
        raise SystemExit(f"the C++ RVO2 is not installed; {RVO2_INSTALL_HINT}")
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        "| map | numpy steps/CPU-s | C++ steps/CPU-s | speed-up (CPU) "
        "| numpy steps/s | C++ steps/s | speed-up (wall) |"
    )
    print("|---|---|---|---|---|---|---|")
    for map_name in args.maps:
        rates = {False: [], True: []}
        for repeat in range(args.repeats):
            for cpp in (False, True) if repeat % 2 == 0 else (True, False):
                rates[cpp].append(steps_per_second(map_name, cpp, args.steps, args.seed))
        (numpy_cpu, numpy_wall), (cpp_cpu, cpp_wall) = (
            [statistics.median(r[i] for r in rates[cpp]) for i in (0, 1)] for cpp in (False, True)
        )
        print(
            f"| {map_name} | {numpy_cpu:.1f} | {cpp_cpu:.1f} | {cpp_cpu / numpy_cpu:.2f}x "
            f"| {numpy_wall:.1f} | {cpp_wall:.1f} | {cpp_wall / numpy_wall:.2f}x |"
        )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
