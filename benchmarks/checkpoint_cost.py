"""What a checkpoint costs: seconds and bytes per checkpoint, against the time the run
takes for the env steps between two checkpoints.

    epymarl-sn setup ./epymarl
    python benchmarks/checkpoint_cost.py --epymarl ./epymarl [--t-max 20000]
        [--tasks rware-tiny,rware-small] [--config mappo_midsn]

One ordinary `src/main.py` run per task (the preset, RWARE with the paper's 100-step
episodes, the batched backend) with `checkpoint_interval` = one batch (1000 env
steps), so that it writes a checkpoint at every batch boundary. From its log
(`checkpoints: t_env N written to DIR in S s`): the median seconds per checkpoint
(written whole: state.pt, metrics.json, meta.json, each synced, renamed into place),
the checkpoint's bytes, and the run's training rate between its first and last
checkpoint. Prints a markdown table with the share of a run that checkpoints cost at
the default `checkpoint_interval` and at a few others.
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = {
    "rware-tiny": "rware:rware-tiny-2ag-v2",
    "rware-small": "rware:rware-small-4ag-v2",
}
WRITTEN = re.compile(r"checkpoints: t_env (\d+) written to (\S+) in ([0-9.]+)s")
INTERVALS = (10_000, 100_000, 1_000_000)


def measure(epymarl: Path, config: str, key: str, t_max: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "epymarl"
        shutil.copytree(epymarl / "src", work / "src")
        argv = [
            sys.executable, "src/main.py", f"--config={config}", "--env-config=gymma", "with",
            f"env_args.key={key}", "env_args.time_limit=100", f"t_max={t_max}",
            "checkpoint_interval=1000", "test_interval=1000000", "log_interval=1000000",
            "runner_log_interval=1000000", "learner_log_interval=1000000", "seed=1",
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        seen = []  # (wall time, t_env, seconds)
        assert proc.stdout is not None
        for line in proc.stdout:
            found = WRITTEN.search(line)
            if found:
                seen.append((time.monotonic(), int(found[1]), float(found[3])))
                path = Path(found[2])
                size = sum(f.stat().st_size for f in path.iterdir())
        if proc.wait() != 0 or len(seen) < 3:
            raise SystemExit(f"the run failed or wrote fewer than 3 checkpoints ({argv})")
    (t0, s0, _), (t1, s1, _) = seen[0], seen[-1]
    cost = statistics.median(s for _, _, s in seen)
    # the wall time between the first and last checkpoint, less their own cost
    train_s = (t1 - t0) - sum(s for _, _, s in seen[1:])
    return {"cost_s": cost, "bytes": size, "steps_per_s": (s1 - s0) / train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epymarl", type=Path, default=Path("epymarl"))
    parser.add_argument("--t-max", type=int, default=20_000)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--config", default="mappo_midsn")
    args = parser.parse_args()
    header = "| task | s per checkpoint | bytes | env steps/s | " + " | ".join(
        f"share at {i:,}" for i in INTERVALS
    )
    print(header + " |")
    print("|---" * (4 + len(INTERVALS)) + "|")
    for task in args.tasks.split(","):
        m = measure(args.epymarl.resolve(), args.config, TASKS[task], args.t_max)
        shares = [m["cost_s"] / (m["cost_s"] + i / m["steps_per_s"]) for i in INTERVALS]
        print(
            f"| {task} | {m['cost_s']:.3f} | {m['bytes']:,} | {m['steps_per_s']:,.0f} | "
            + " | ".join(f"{100 * s:.2f}%" for s in shares)
            + " |"
        )


if __name__ == "__main__":
    main()
