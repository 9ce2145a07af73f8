"""Training throughput of EPyMARL's `parallel` runner against the plugin's paths.

    epymarl-sn setup ./epymarl
    python benchmarks/runner_throughput.py --epymarl ./epymarl [--repeats 5]
        [--tasks rware,rware-4ag,rware-small,smaclite] [--runners parallel,batched]
        [--rware-t-max 50000] [--smaclite-t-max 20000] [--profile]

Ordinary `src/main.py` runs of `mappo_paper` (batch_size_run 10), one per runner, same
seed and steps (every path produces the same episodes, so every run does the same
work), repeated in interleaved order (the order alternates from round to round). Per
run:

- env steps per wall-clock second, between the first and the last `episode` log
  (Sacred's metric timestamps), so start-up and the first test episodes do not count;
- CPU seconds (training process and every process it started, start-up included)
  per million env steps.

Prints markdown tables: medians, and the median over rounds of runner / parallel in
the same round, which cancels slow drift in the machine's load.

The runners (`--runners`, comma-separated; the first is the baseline):
- parallel: EPyMARL's parallel runner, one process per env;
- vector: the plugin's vector runner over rware's own envs (`rware_batched=False`);
- vector-0: the same with every env in the training process (`vector_workers=0`);
- batched: the presets' path: on RWARE the batched backend, the lean rollout and the
  plugin's exact learner (on SMAClite it is `vector`);
- fused: `batched` with `fused_gru=True` (not exact: README, "Fast RWARE").

`--profile` adds a py-spy profile of one `batched` run per task: the share of samples
under each of a few frames (env step, action selection, batch writes, learner).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

# name -> `with` overrides
RUNNERS = {
    "parallel": ["runner=parallel"],
    "vector": ["runner=vector", "rware_batched=False"],
    "vector-0": ["runner=vector", "rware_batched=False", "vector_workers=0"],
    "batched": ["runner=vector"],
    "fused": ["runner=vector", "fused_gru=True"],
}


def _rware(name, key):
    return (
        f"RWARE {name}",
        [
            "--env-config=gymma",
            "with",
            f"env_args.key=rware:{key}",
            "env_args.time_limit=500",
        ],
    )


TASKS = {
    "rware": _rware("tiny-2ag", "rware-tiny-2ag-v2"),
    "rware-4ag": _rware("tiny-4ag", "rware-tiny-4ag-v2"),
    "rware-small": _rware("small-2ag", "rware-small-2ag-v2"),
    "smaclite": (
        "SMAClite 2s3z (smaclite_sparse)",
        ["--env-config=smaclite_sparse", "with", "env_args.map_name=2s3z"],
    ),
}


def main_args(task, runner, seed, t_max, extra):
    log = max(t_max // 10, 1)
    return [
        "--config=mappo_paper",
        *TASKS[task][1],
        *RUNNERS[runner],
        f"seed={seed}",
        f"t_max={t_max}",
        f"test_interval={10 * t_max}",
        "test_nepisode=10",
        f"log_interval={log}",
        f"runner_log_interval={log}",
        f"learner_log_interval={log}",
        *extra,
    ]


def run_rates(work, args):
    """One run in `work` (a copy of EPyMARL's src/): env steps per wall-clock second
    between its first and last `episode` log, and CPU seconds per million env steps."""
    cpu = _children_cpu()
    proc = subprocess.run(
        [sys.executable, "src/main.py", *args],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    cpu = _children_cpu() - cpu
    runs = sorted(
        (work / "results" / "sacred").rglob("metrics.json"), key=lambda p: p.stat().st_mtime
    )
    if proc.returncode != 0 or not runs:
        sys.exit(f"error: run failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    episode = json.loads(runs[-1].read_text())["episode"]
    steps, stamps = episode["steps"], episode["timestamps"]
    if len(steps) < 2:
        sys.exit("error: fewer than two `episode` logs; raise --*-t-max")
    seconds = _seconds(stamps[-1]) - _seconds(stamps[0])
    return (steps[-1] - steps[0]) / seconds, 1e6 * cpu / steps[-1]


def _children_cpu():
    # the run's process and, once it has waited for them, its env processes
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(stamp):
    return datetime.fromisoformat(stamp).timestamp()


def machine():
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, load average {load}"


def table(title, rates, cpu, base):
    """Medians per runner, and the medians of the paired ratios runner / base."""

    def ratio(samples, runner):
        return statistics.median(v / p for v, p in zip(samples[runner], samples[base]))

    return "\n".join(
        [
            f"{title}:",
            "",
            "| runner | env steps/s, median | CPU s per 1M env steps, median |",
            "|---|---|---|",
            *(
                f"| {r} | {statistics.median(rates[r]):.0f} | {statistics.median(cpu[r]):.0f} |"
                for r in rates
            ),
            *(
                f"| {r} / {base} (median of paired ratios) | {ratio(rates, r):.2f}x "
                f"| {ratio(cpu, r):.2f}x |"
                for r in rates
                if r != base
            ),
        ]
    )


# frames whose share of a profile's samples is reported (py-spy's raw stacks)
PROFILE_FRAMES = {
    "env step (batched RWARE)": "BatchedRware.step",
    "action selection": "select_actions",
    "batch writes": "write_step",
    "learner": ".train (",
    "start-up imports": "_find_and_load",
}


def profile(work, args):
    """Shares of a py-spy profile's samples under each of PROFILE_FRAMES, of one run."""
    out = work / "profile.txt"
    subprocess.run(
        ["py-spy", "record", "-r", "100", "-f", "raw", "-o", str(out), "--", sys.executable,
         "src/main.py", *args],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    total, shares = 0, dict.fromkeys(PROFILE_FRAMES, 0)
    for line in out.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        total += int(count)
        for name, frame in PROFILE_FRAMES.items():
            if frame in stack:
                shares[name] += int(count)
    return {name: n / total for name, n in shares.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epymarl", default="epymarl", help="patched EPyMARL checkout (epymarl-sn setup)"
    )
    parser.add_argument(
        "--tasks", default="rware,smaclite", help=f"comma-separated: {', '.join(TASKS)}"
    )
    parser.add_argument(
        "--runners",
        default="parallel,batched",
        help=f"comma-separated, the first is the baseline: {', '.join(RUNNERS)}",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per runner and task")
    parser.add_argument("--rware-t-max", type=int, default=50000, help="env steps per RWARE run")
    parser.add_argument(
        "--smaclite-t-max", type=int, default=20000, help="env steps per SMAClite run"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="a py-spy profile of one batched run per task"
    )
    parser.add_argument(
        "--with",
        dest="extra",
        nargs="*",
        default=[],
        help="more `with` overrides for every run, e.g. batch_size_run=4",
    )
    opts = parser.parse_args()

    tasks, runners = opts.tasks.split(","), opts.runners.split(",")
    for given, known, what in ((tasks, TASKS, "task"), (runners, RUNNERS, "runner")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            sys.exit(f"error: unknown {what} {unknown[0]!r}; choose from: {', '.join(known)}")
    src = Path(opts.epymarl).resolve() / "src"
    if not (src / "main.py").is_file():
        sys.exit(
            f"error: no EPyMARL checkout at {src.parent}; make one with `epymarl-sn setup DIR`"
        )
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")

    work = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        shutil.copytree(src, work / "src")
        for task in tasks:
            t_max = opts.smaclite_t_max if task == "smaclite" else opts.rware_t_max
            rates = {r: [] for r in runners}
            cpu = {r: [] for r in runners}
            for repeat in range(opts.repeats):
                for runner in runners if repeat % 2 == 0 else runners[::-1]:
                    args = main_args(task, runner, opts.seed, t_max, opts.extra)
                    rate, cpu_per_million = run_rates(work, args)
                    rates[runner].append(rate)
                    cpu[runner].append(cpu_per_million)
                    print(
                        f"  {task} run {repeat + 1}/{opts.repeats} {runner}: {rate:.0f} steps/s, "
                        f"{cpu_per_million:.0f} CPU s / 1M steps",
                        file=sys.stderr,
                    )
            print(
                table(
                    f"{TASKS[task][0]}, mappo_paper, seed {opts.seed}, t_max {t_max}, "
                    f"{opts.repeats} paired runs",
                    rates,
                    cpu,
                    runners[0],
                )
            )
            if opts.profile:
                shares = profile(work, main_args(task, "batched", opts.seed, t_max, opts.extra))
                print("\nwhere a batched run's time goes (share of py-spy samples):\n")
                print("| under | share |\n|---|---|")
                for name, share in shares.items():
                    print(f"| {name} | {100 * share:.0f}% |")
            print()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
