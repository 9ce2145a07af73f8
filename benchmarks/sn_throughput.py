"""Training throughput of mappo_paper against the SN presets, and the learner's update time.

    epymarl-sn setup ./epymarl
    python benchmarks/sn_throughput.py --epymarl ./epymarl [--repeats 5] [--t-max 6000]

1. Env steps per second: ordinary `src/main.py` runs of every preset on RWARE tiny-2ag,
   same seed and steps, repeated in interleaved order; the rate is taken between the
   first and the last `episode` log of each run (Sacred's metric timestamps), so start-up
   and the first test episodes do not count.
2. The learner's update time alone: `learner.train` on one real batch (10 episodes
   collected by EPyMARL's parallel runner), per preset, interleaved, logging at the
   presets' learner_log_interval as in a real run; plus the cost of the SN diagnostics.

Prints markdown tables: medians, and ratios to mappo_paper paired by round.
"""

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import torch

from epymarl_sn.resources import main_config

PRESETS = ["mappo_paper", "mappo_sn", "mappo_fullsn", "mappo_midsn", "mappo_lastsn"]
ENV_KEY = "rware:rware-tiny-2ag-v2"


def main_args(preset, seed, t_max):
    return [
        f"--config={preset}",
        "--env-config=gymma",
        "with",
        f"env_args.key={ENV_KEY}",
        "env_args.time_limit=100",
        f"seed={seed}",
        f"t_max={t_max}",
        f"test_interval={10 * t_max}",
        "test_nepisode=10",
        "log_interval=1000",
        "runner_log_interval=1000",
    ]


def run_rates(work, preset, seed, t_max):
    """One run in `work` (a copy of EPyMARL's src/, so Sacred's results stay there): env
    steps per wall-clock second between its first and last `episode` log, and CPU
    seconds (main process and env workers, start-up included) per 1000 env steps."""
    cpu = _children_cpu()
    proc = subprocess.run(
        [sys.executable, "src/main.py", *main_args(preset, seed, t_max)],
        cwd=work,
        capture_output=True,
        text=True,
    )
    cpu = _children_cpu() - cpu
    runs = sorted(
        (work / "results" / "sacred" / preset / ENV_KEY).glob("*/metrics.json"),
        key=lambda p: p.stat().st_mtime,
    )
    if proc.returncode != 0 or not runs:
        sys.exit(f"error: {preset} run failed:\n{proc.stderr[-3000:]}")
    episode = json.loads(runs[-1].read_text())["episode"]
    steps, stamps = episode["steps"], episode["timestamps"]
    seconds = _seconds(stamps[-1]) - _seconds(stamps[0])
    return (steps[-1] - steps[0]) / seconds, 1000 * cpu / steps[-1]


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(stamp):
    return datetime.fromisoformat(stamp).timestamp()


def preset_config(src, preset):
    config = main_config(src.parent, "gymma", preset)
    config["env_args"] = {"key": ENV_KEY, "time_limit": 100, "pretrained_wrapper": None, "seed": 1}
    config.update(use_cuda=False, device="cpu")
    return SimpleNamespace(**config)


def real_batch(src):
    """10 RWARE episodes from EPyMARL's parallel runner, with run.py's scheme."""
    from components.episode_buffer import ReplayBuffer
    from components.transforms import OneHot
    from controllers import REGISTRY as macs
    from runners import REGISTRY as runners
    from utils.logging import Logger

    args = preset_config(src, "mappo_paper")
    runner = runners[args.runner](args=args, logger=Logger(logging.getLogger("bench")))
    info = runner.get_env_info()
    args.n_agents, args.n_actions, args.state_shape = (
        info["n_agents"],
        info["n_actions"],
        info["state_shape"],
    )
    scheme = {
        "state": {"vshape": info["state_shape"]},
        "obs": {"vshape": info["obs_shape"], "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (info["n_actions"],), "group": "agents", "dtype": torch.int},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
        "reward": {"vshape": (1,)},
    }
    groups = {"agents": args.n_agents}
    preprocess = {"actions": ("actions_onehot", [OneHot(out_dim=args.n_actions)])}
    buffer = ReplayBuffer(
        scheme, groups, args.buffer_size, info["episode_limit"] + 1, preprocess=preprocess
    )
    mac = macs[args.mac](buffer.scheme, groups, args)
    runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    buffer.insert_episode_batch(runner.run(test_mode=False))
    runner.close_env()
    batch = buffer.sample(args.batch_size)
    return batch[:, : batch.max_t_filled()], info


def rotated(presets, i):
    """A different order each round, so drift in machine load hits every preset alike."""
    i %= len(presets)
    return presets[i:] + presets[:i]


def cpu_seconds(fn):
    # CPU time of this (single-threaded) process: other load on the machine barely
    # moves it, unlike wall-clock time
    start = time.process_time()
    fn()
    return time.process_time() - start


def learner_timings(src, presets, updates, seed):
    """Per preset, CPU seconds of: learner.train, one critic forward + backward on the
    batch (where SN adds its work), and one SN diagnostics call."""
    from controllers import REGISTRY as macs
    from learners import REGISTRY as learners
    from utils.logging import Logger

    from epymarl_sn.sn.diagnostics import critic_diagnostics

    batch, info = real_batch(src)
    built = {}
    for preset in presets:
        args = preset_config(src, preset)
        args.n_agents, args.n_actions, args.state_shape = (
            info["n_agents"],
            info["n_actions"],
            info["state_shape"],
        )
        torch.manual_seed(seed)
        mac = macs[args.mac](batch.scheme, {"agents": args.n_agents}, args)
        built[preset] = learners[args.learner](
            mac, batch.scheme, Logger(logging.getLogger("bench")), args
        )

    timings = {
        key: {preset: [] for preset in presets} for key in ("update", "critic", "diagnostics")
    }
    for i in range(updates):
        for preset in rotated(presets, i):
            learner = built[preset]
            # 1000 env steps per batch, as in a run, so logging happens as often as in one
            timings["update"][preset].append(
                cpu_seconds(lambda: learner.train(batch, 1000 * i, 10 * i))
            )
            timings["critic"][preset].append(
                cpu_seconds(lambda: learner.critic(batch).sum().backward())
            )
            timings["diagnostics"][preset].append(
                cpu_seconds(lambda: critic_diagnostics(learner.critic))
            )
    return timings


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({cpu}), torch {torch.__version__}, "
        f"Python {platform.python_version()}, load average {load}"
    )


def table(column, samples, base, scale=1.0):
    """Medians, and the median over rounds of each preset's ratio to `base` in the same
    round (samples[p][j] and samples[base][j] were measured close in time), which
    cancels slow drift in machine load."""
    lines = [f"| preset | {column}, median | ratio to {base}, median of paired |", "|---|---|---|"]
    for preset, values in samples.items():
        ratio = statistics.median(v / b for v, b in zip(values, samples[base]))
        lines.append(f"| {preset} | {scale * statistics.median(values):.4g} | {ratio:.3f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epymarl", default="epymarl", help="patched EPyMARL checkout (epymarl-sn setup)"
    )
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--repeats", type=int, default=5, help="runs per preset")
    parser.add_argument("--t-max", type=int, default=6000, help="env steps per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--updates", type=int, default=20, help="learner updates timed per preset")
    parser.add_argument("--skip-runs", action="store_true", help="only time the learner")
    opts = parser.parse_args()

    epymarl = Path(opts.epymarl).resolve()
    src = epymarl / "src"
    presets = opts.presets.split(",")
    torch.set_num_threads(1)  # as src/main.py does
    print(f"machine: {machine()}")

    if not opts.skip_runs:
        work = Path(tempfile.mkdtemp(prefix="sn-bench-"))
        shutil.copytree(src, work / "src")
        rates = {preset: [] for preset in presets}
        cpu = {preset: [] for preset in presets}
        for repeat in range(opts.repeats):
            for preset in rotated(presets, repeat):
                rate, cpu_per_1000 = run_rates(work, preset, opts.seed, opts.t_max)
                rates[preset].append(rate)
                cpu[preset].append(cpu_per_1000)
                print(
                    f"  run {repeat + 1}/{opts.repeats} {preset}: {rate:.1f} steps/s, "
                    f"{cpu_per_1000:.2f} CPU s / 1000 steps",
                    file=sys.stderr,
                )
        shutil.rmtree(work)
        print(
            f"\nTraining throughput, RWARE tiny-2ag, seed {opts.seed}, t_max {opts.t_max}, "
            f"{opts.repeats} runs each:\n"
        )
        print(table("env steps/s (wall clock)", rates, presets[0]))
        print()
        print(table("CPU s per 1000 env steps (whole run)", cpu, presets[0]))

    sys.path.insert(0, str(src))
    from epymarl_sn.plugin import register

    register()
    timings = learner_timings(src, presets, opts.updates, opts.seed)
    print(
        f"\nLearner update alone (learner.train on one batch of 10 RWARE episodes), "
        f"{opts.updates} updates:\n"
    )
    print(table("update CPU time (ms)", timings["update"], presets[0], scale=1000))
    print("\nOne critic forward + backward on that batch (SN's added work):\n")
    print(table("CPU time (ms)", timings["critic"], presets[0], scale=1000))
    print(
        "\nSN diagnostics (critic_diagnostics, once per learner_log_interval): median "
        + ", ".join(
            f"{p} {1000 * statistics.median(t):.2f} ms" for p, t in timings["diagnostics"].items()
        )
    )


if __name__ == "__main__":
    main()
