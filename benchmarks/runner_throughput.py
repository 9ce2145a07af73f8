"""Training throughput of EPyMARL's `parallel` runner against the plugin's `vector` runner.

    epymarl-sn setup ./epymarl
    python benchmarks/runner_throughput.py --epymarl ./epymarl [--repeats 5]
        [--rware-t-max 50000] [--smaclite-t-max 20000] [--tasks rware,smaclite]
        [--floor]

Ordinary `src/main.py` runs of `mappo_paper` (batch_size_run 10) on RWARE tiny-2ag and
on SMAClite 2s3z (smaclite_sparse), one per runner, same seed and steps (both runners
produce the same episodes, so both runs do the same work), repeated in interleaved
order (the pair's order alternates). Per run:

- env steps per wall-clock second, between the first and the last `episode` log
  (Sacred's metric timestamps), so start-up and the first test episodes do not count;
- CPU seconds (training process and every process it started, start-up included)
  per million env steps.

Prints markdown tables: medians, and the median over rounds of vector / parallel in
the same round, which cancels slow drift in the machine's load.

`--floor` adds a third run per round, `vector_workers=0`: every env stepped in the
training process, so no runner processes or pipes at all. Its CPU per step is what the
envs, the controller and the learner cost by themselves, the floor under any runner's.
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

# name -> `with` overrides; the first is the baseline of the ratios
RUNNERS = {
    "parallel": ["runner=parallel"],
    "vector": ["runner=vector"],
    "vector, 0 workers": ["runner=vector", "vector_workers=0"],
}
TASKS = {
    "rware": (
        "RWARE tiny-2ag",
        [
            "--env-config=gymma",
            "with",
            "env_args.key=rware:rware-tiny-2ag-v2",
            "env_args.time_limit=500",
        ],
    ),
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


def table(title, rates, cpu):
    """Medians per runner, and the medians of the paired ratios runner / parallel."""

    def ratio(samples, runner):
        return statistics.median(v / p for v, p in zip(samples[runner], samples["parallel"]))

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
                f"| {r} / parallel (median of paired ratios) | {ratio(rates, r):.2f}x "
                f"| {ratio(cpu, r):.2f}x |"
                for r in rates
                if r != "parallel"
            ),
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epymarl", default="epymarl", help="patched EPyMARL checkout (epymarl-sn setup)"
    )
    parser.add_argument(
        "--tasks", default="rware,smaclite", help="comma-separated: rware, smaclite"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per runner and task")
    parser.add_argument("--rware-t-max", type=int, default=50000, help="env steps per RWARE run")
    parser.add_argument(
        "--smaclite-t-max", type=int, default=20000, help="env steps per SMAClite run"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run vector_workers=0 (no runner processes): the CPU floor",
    )
    parser.add_argument(
        "--with",
        dest="extra",
        nargs="*",
        default=[],
        help="more `with` overrides for every run, e.g. batch_size_run=4",
    )
    opts = parser.parse_args()

    tasks = opts.tasks.split(",")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        sys.exit(f"error: unknown task {unknown[0]!r}; choose from: {', '.join(TASKS)}")
    src = Path(opts.epymarl).resolve() / "src"
    if not (src / "main.py").is_file():
        sys.exit(
            f"error: no EPyMARL checkout at {src.parent}; make one with `epymarl-sn setup DIR`"
        )
    t_max = {"rware": opts.rware_t_max, "smaclite": opts.smaclite_t_max}
    runners = list(RUNNERS) if opts.floor else ["parallel", "vector"]
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")

    work = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        shutil.copytree(src, work / "src")
        for task in tasks:
            rates = {r: [] for r in runners}
            cpu = {r: [] for r in runners}
            for repeat in range(opts.repeats):
                for runner in runners if repeat % 2 == 0 else runners[::-1]:
                    args = main_args(task, runner, opts.seed, t_max[task], opts.extra)
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
                    f"{TASKS[task][0]}, mappo_paper, seed {opts.seed}, t_max {t_max[task]}, "
                    f"{opts.repeats} paired runs",
                    rates,
                    cpu,
                )
            )
            print()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
