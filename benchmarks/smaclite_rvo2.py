"""Speed of SMAClite's C++ RVO2 against its numpy port, on the paper's maps.

    python benchmarks/smaclite_rvo2.py [--maps 3s5z_vs_3s6z 27m_vs_30m corridor] [--steps 600]

Plays the same seeded random battles with each collision avoidance and prints env
steps per second and the speed-up. Needs the C++ extension (`epymarl-sn setup`
builds it where g++ and cmake exist).
"""

import argparse
import time

import gymnasium as gym
import numpy as np
import smaclite  # noqa: F401  (registers the smaclite/ envs)

from epymarl_sn.envs.installed import RVO2_INSTALL_HINT, rvo2_installed


def steps_per_second(map_name, use_cpp_rvo2, steps, seed):
    env = gym.make(f"smaclite/{map_name}-v0", seed=seed, use_cpp_rvo2=use_cpp_rvo2).unwrapped
    rng = np.random.default_rng(seed)
    env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        actions = [int(rng.choice(np.flatnonzero(a))) for a in env.get_avail_actions()]
        _, _, done, _, _ = env.step(actions)
        if done:
            env.reset()
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=["3s5z_vs_3s6z", "27m_vs_30m", "corridor"])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not rvo2_installed():
        raise SystemExit(f"the C++ RVO2 is not installed; {RVO2_INSTALL_HINT}")
    print(f"{'map':<14} {'numpy steps/s':>14} {'C++ steps/s':>12} {'speed-up':>9}")
    for map_name in args.maps:
        numpy_rate = steps_per_second(map_name, False, args.steps, args.seed)
        cpp_rate = steps_per_second(map_name, True, args.steps, args.seed)
        print(
            f"{map_name:<14} {numpy_rate:>14.1f} {cpp_rate:>12.1f} {cpp_rate / numpy_rate:>8.2f}x"
        )


if __name__ == "__main__":
    main()
