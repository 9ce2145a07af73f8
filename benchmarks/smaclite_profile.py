"""Where a SMAClite training step's time goes: py-spy profiles of real runs, by category.

    epymarl-sn setup ./epymarl
    pip install py-spy
    python benchmarks/smaclite_profile.py --epymarl ./epymarl --out profiles
        [--maps 2s3z 3s5z_vs_3s6z 27m_vs_30m corridor] [--rvo2 numpy cpp] [--t-max 3000]
    python benchmarks/smaclite_profile.py --epymarl ./epymarl --out profiles --table-only

Each run is `python src/main.py --config=mappo_paper --env-config=smaclite_sparse with
env_args.map_name=MAP env_args.use_cpp_rvo2=False|True t_max=3000 test_nepisode=10 ...`
(the presets' `vector` runner, whose env worker processes are profiled too) under
`py-spy record --subprocesses --format raw --nonblocking`, one after the other. The
raw profile (xz-compressed) and the run's command, wall time and load go to
OUT/MAP_RVO2.txt.xz and .json; `--table-only` makes the tables from those files alone
(docs/data/smaclite_profile holds the profiles of docs/benchmarks.md).

py-spy samples each thread of each process while it is not idle (blocked in a system
call). A sample belongs to an env worker (a process whose stacks start in the
runner's `worker_main`) or to the training process, and to the first category of
CATEGORIES that one of its frames matches: a KD-tree query made inside `get_obs`
counts as a KD-tree query, the rest of `get_obs` as observations. The tables give
each category's share of the env workers' and of the training process's samples
after start-up (imports, building envs, runner and learner, Sacred's start and the
config checks, closing; their seconds are a row of their own), per map and collision
avoidance.
"""

import argparse
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

# a frame of py-spy's raw output: "function (file:line)"
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")

SMACLITE_ENV = "smaclite/env/smaclite.py"
OBSERVING = (
    "get_obs",
    "get_obs_agent",
    "get_state",
    "get_avail_actions",
    "get_avail_agent_actions",
    "__get_agent_obs",
    "__get_unit_state_features",
    "__get_agent_avail_actions",
    "__get_unit_type_id",
    "__can_target",
    "__can_move",
)
WORLD = ("step", "__world_step", "__update_deaths", "__enemy_attack", "__get_command")
# what read_profile calls a frame of EPyMARL's run_sequential before its training loop
SETTING_UP = "run_sequential, before the training loop"


def _in(file: str, *parts: str) -> bool:
    return any(part in file for part in parts)


def _named(function: str, *names: str) -> bool:
    """Is `function` (a qualified name: `SMACliteEnv.__world_step.<locals>.<genexpr>`)
    one of `names`, or defined inside one of them."""
    return bool(set(function.split(".")) & set(names))


# (category, does a frame (function, file) belong to it), in priority order: the first
# category one of a sample's frames matches takes the sample
Rule = Callable[[str, str], bool]
CATEGORIES: list[tuple[str, Rule]] = [
    ("start-up: imports", lambda fn, file: fn == "_find_and_load"),
    (
        "start-up: envs, runner, learner built",
        lambda fn, file: fn in ("EnvSlice.__init__", "VectorRunner.__init__", SETTING_UP),
    ),
    ("learner (training)", lambda fn, file: fn.endswith(".train") and _in(file, "learner")),
    ("action selection", lambda fn, file: fn.endswith("select_actions")),
    (
        "KD-tree rebuilds (NeighbourFinder.update)",
        lambda fn, file: (
            file.endswith("rvo2/neighbour_finder.py") and fn.endswith(("update", "set_all_units"))
        ),
    ),
    (
        "KD-tree queries (query_radius)",
        lambda fn, file: file.endswith("rvo2/neighbour_finder.py"),
    ),
    ("RVO2 collision avoidance", lambda fn, file: _in(file, "smaclite/env/rvo2/")),
    (
        "observations, state, available actions",
        lambda fn, file: _named(fn, *OBSERVING) and _in(file, SMACLITE_ENV, "envs/"),
    ),
    (
        "reset (placing units)",
        lambda fn, file: (
            file.endswith(SMACLITE_ENV) and _named(fn, "reset", "__place_group", "seed")
        ),
    ),
    (
        "unit loop (commands, targeting, damage, deaths)",
        lambda fn, file: (
            _in(file, "smaclite/env/units/") or (file.endswith(SMACLITE_ENV) and _named(fn, *WORLD))
        ),
    ),
    (
        "plugin's sparse reward and wrapper (epymarl_sn/envs)",
        lambda fn, file: _in(file, "epymarl_sn/envs/"),
    ),
    (
        "EPyMARL's SMACliteWrapper, gymnasium's wrappers",
        lambda fn, file: _in(
            file, "envs/smaclite_wrapper.py", "envs/multiagentenv.py", "gymnasium/"
        ),
    ),
    (
        "pipes between runner and workers (send, recv)",
        lambda fn, file: _in(file, "multiprocessing/connection.py", "multiprocessing/reduction.py"),
    ),
    (
        "runner (episode loop, batch writes, shared arrays)",
        lambda fn, file: _in(
            file,
            "epymarl_sn/runners/",
            "components/episode_buffer.py",
            "runners/parallel_runner.py",
        ),
    ),
    (
        "run files and metrics (Sacred's observers)",
        lambda fn, file: _in(file, "epymarl_sn/tracking/", "sacred/observers/"),
    ),
]
# (category, what a part of it is, does a frame belong to that part)
DETAILS: list[tuple[str, str, Rule]] = [
    (
        name,
        "of which scikit-learn's input checks",
        lambda fn, file: _in(file, "sklearn/utils/validation.py"),
    )
    for name in ("KD-tree rebuilds (NeighbourFinder.update)", "KD-tree queries (query_radius)")
] + [
    (
        "RVO2 collision avoidance",
        "of which the numpy port's linear programs",
        lambda fn, file: fn.startswith("linear_program_"),
    ),
    (
        "RVO2 collision avoidance",
        "of which terrain obstacles (ObstacleFinder.query)",
        lambda fn, file: _in(file, "rvo2/obstacle_finder.py"),
    ),
]
OTHER = "other (logging, Sacred, Python)"
# a sample of a process with no Python frame: the interpreter starting or exiting
NO_FRAME = "no Python frame (interpreter start, exit)"
# a sample of the training process's main thread outside run_sequential
OUTSIDE = "start-up and exit: Sacred, config checks, closing"
NAMES = [name for name, _ in CATEGORIES] + [OTHER, NO_FRAME, OUTSIDE]
STARTUP = ("start-up: imports", "start-up: envs, runner, learner built", NO_FRAME, OUTSIDE)


def categorise(frames: list[tuple[str, str]]) -> str:
    if not frames:
        return NO_FRAME
    for name, rule in CATEGORIES:
        if any(rule(fn, file) for fn, file in frames):
            return name
    return OTHER


def read_profile(path: Path, loop_line: int) -> dict[str, Counter]:
    """{"worker" | "training": Counter(category, or (category, part of it) -> samples)}
    of one raw profile. A
    process is an env worker if one of its stacks starts in `worker_main` (the frames
    it inherited from the forked training process cut), the training process if
    py-spy started it. The role is the process's, not the stack's: py-spy loses the
    callers of a generator's frame, so some stacks lack their outer frames."""
    stacks = []  # (the process and its parents, frames, samples)
    with lzma.open(path, "rt") as f:
        lines = f.read().splitlines()
    for text in lines:
        stack, _, n = text.rpartition(" ")
        parts = stack.split(";")
        # py-spy's "process PID:cmdline" entries: the started process, then its children
        chain = [p.split(":", 1)[0].split()[1] for p in parts if p.startswith("process ")]
        frames = []
        for part in parts[len(chain) :]:
            m = FRAME.match(part)
            if m is None:
                continue
            fn = m["function"]
            if fn == "run_sequential" and int(m["line"]) < loop_line:
                fn = SETTING_UP
            frames.append((fn, m["file"]))
        names = [fn for fn, _ in frames]
        if "worker_main" in names:
            frames = frames[names.index("worker_main") :]
        stacks.append((chain, frames, int(n)))
    workers = {chain[-1] for chain, frames, _ in stacks if frames and frames[0][0] == "worker_main"}
    counts: dict[str, Counter] = {"worker": Counter(), "training": Counter()}
    for chain, frames, n in stacks:
        role = "worker" if chain[-1] in workers else "training" if len(chain) == 1 else None
        if role is None:
            continue
        name = categorise(frames)
        if role == "training" and name not in STARTUP and _outside_run(frames):
            name = OUTSIDE
        counts[role][name] += n
        for category, part, rule in DETAILS:
            if category == name and any(rule(fn, file) for fn, file in frames):
                counts[role][name, part] += n
    return counts


def _outside_run(frames: list[tuple[str, str]]) -> bool:
    """Is this a stack of main.py's main thread outside EPyMARL's run_sequential."""
    fn, file = frames[0]
    return (
        fn == "<module>"
        and file.endswith("main.py")
        and not any(f in ("run_sequential", SETTING_UP) for f, _ in frames)
    )


def training_loop_line(epymarl: Path) -> int:
    """The line of EPyMARL's run.py where run_sequential's training loop starts."""
    for i, text in enumerate((epymarl / "src" / "run.py").read_text().splitlines(), 1):
        if text.strip().startswith("while runner.t_env <= args.t_max"):
            return i
    sys.exit("error: no training loop found in src/run.py")


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def record(work: Path, out: Path, map_name: str, rvo2: str, t_max: int, rate: int) -> None:
    """One profiled run; its raw profile and what was run go to `out`."""
    args = [
        "--config=mappo_paper",
        "--env-config=smaclite_sparse",
        "with",
        f"env_args.map_name={map_name}",
        f"env_args.use_cpp_rvo2={rvo2 == 'cpp'}",
        f"t_max={t_max}",
        "test_nepisode=10",
        f"test_interval={10 * t_max}",
        "seed=1",
    ]
    stem = out / f"{map_name}_{rvo2}"
    command = [
        "py-spy", "record", "--subprocesses", "--format", "raw", "--nonblocking",
        "--rate", str(rate), "-o", f"{stem}.txt", "--", sys.executable, "src/main.py", *args,
    ]  # fmt: skip
    load = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: run failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    raw = Path(f"{stem}.txt")
    with lzma.open(f"{stem}.txt.xz", "wt") as f:  # the processes' command lines as run
        f.write(raw.read_text().replace(f'"{sys.executable} ', '"python '))
    raw.unlink()
    info = {
        "command": " ".join([*command[:8], "-o", f"{stem.name}.txt", "src/main.py", *args]),
        "wall_s": round(wall, 1),
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    Path(f"{stem}.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"  {map_name} {rvo2}: {wall:.0f} s", file=sys.stderr)


def table(out: Path, maps: list[str], rvo2s: list[str], loop_line: int) -> str:
    """Markdown: per process, each category's share of its samples after start-up,
    per run; then the seconds of start-up samples, the samples, the runs' wall times."""
    runs = [(m, r) for m in maps for r in rvo2s if (out / f"{m}_{r}.txt.xz").is_file()]
    if not runs:
        sys.exit(f"error: no profiles in {out}; run without --table-only first")
    counts = {run: read_profile(out / f"{run[0]}_{run[1]}.txt.xz", loop_line) for run in runs}
    infos = {run: json.loads((out / f"{run[0]}_{run[1]}.json").read_text()) for run in runs}
    loops = {
        run: {
            role: sum(counts[run][role][name] for name in NAMES if name not in STARTUP)
            for role in counts[run]
        }
        for run in runs
    }
    header = " | ".join(f"{m} {'C++' if r == 'cpp' else 'numpy'}" for m, r in runs)
    lines = []
    for role, title in (
        ("worker", "Share of the env workers' samples (together) after start-up, %:"),
        ("training", "Share of the training process's samples after start-up, %:"),
    ):
        lines += [title, "", f"| category | {header} |", "|---|" + "---|" * len(runs)]
        loop = {run: loops[run][role] for run in runs}
        for name in NAMES:
            shares = [100 * counts[run][role][name] / max(loop[run], 1) for run in runs]
            if name in STARTUP or all(s < 0.05 for s in shares):
                continue
            lines.append(f"| {name} | " + " | ".join(f"{s:.1f}" for s in shares) + " |")
            for category, part, _ in DETAILS:
                if category == name:
                    parts = [
                        100 * counts[run][role][name, part] / max(loop[run], 1) for run in runs
                    ]
                    lines.append(f"| - {part} | " + " | ".join(f"{s:.1f}" for s in parts) + " |")
        seconds = [
            sum(counts[run][role][name] for name in STARTUP) / _rate(infos[run]) for run in runs
        ]
        lines.append("| start-up and exit, s | " + " | ".join(f"{s:.0f}" for s in seconds) + " |")
        lines.append(
            "| samples after start-up | " + " | ".join(str(loop[run]) for run in runs) + " |"
        )
        lines.append("")
    shares = [100 * loops[run]["worker"] / max(sum(loops[run].values()), 1) for run in runs]
    lines += [
        "The env workers' share of all the run's samples after start-up, %:",
        "",
        f"| | {header} |",
        "|---|" + "---|" * len(runs),
        "| env workers | " + " | ".join(f"{s:.0f}" for s in shares) + " |",
        "",
    ]
    walls = [
        f"{m} {r}: {infos[m, r]['wall_s']:.0f} s (load average {infos[m, r]['load_before'][0]:.1f} "
        f"before, {infos[m, r]['load_after'][0]:.1f} after)"
        for m, r in runs
    ]
    lines.append("Wall time of each profiled run: " + "; ".join(walls) + ".")
    return "\n".join(lines)


def _rate(info: dict) -> int:
    """The samples per second a run was recorded at (its command's --rate)."""
    words = info["command"].split()
    return int(words[words.index("--rate") + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epymarl", default="epymarl", help="the checkout of epymarl-sn setup")
    parser.add_argument("--out", default="smaclite-profiles", help="where the profiles go")
    parser.add_argument(
        "--maps", nargs="+", default=["2s3z", "3s5z_vs_3s6z", "27m_vs_30m", "corridor"]
    )
    parser.add_argument("--rvo2", nargs="+", default=["numpy", "cpp"], choices=["numpy", "cpp"])
    parser.add_argument("--t-max", type=int, default=3000, help="training env steps per run")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument(
        "--table-only", action="store_true", help="the table from the profiles in --out"
    )
    opts = parser.parse_args()
    epymarl = Path(opts.epymarl).resolve()
    if not (epymarl / "src" / "main.py").is_file():
        sys.exit(f"error: no EPyMARL checkout at {epymarl}; make one with `epymarl-sn setup DIR`")
    out = Path(opts.out).resolve()  # py-spy writes into it from the run's directory
    out.mkdir(parents=True, exist_ok=True)
    if not opts.table_only:
        if shutil.which("py-spy") is None:
            sys.exit("error: py-spy is not installed; run `pip install py-spy`")
        work = Path(tempfile.mkdtemp(prefix="smaclite-profile-"))
        try:
            shutil.copytree(epymarl / "src", work / "src")
            for map_name in opts.maps:
                for rvo2 in opts.rvo2:
                    record(work, out, map_name, rvo2, opts.t_max, opts.rate)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(table(out, opts.maps, opts.rvo2, training_loop_line(epymarl)))


if __name__ == "__main__":
    main()
