"""The SMAC calibration table of docs/smac_fig3.md, from the committed runs alone.

    python benchmarks/calibration_table.py docs/data/smac_calibration \
        > docs/smac_calibration/calibration.md

Per run (sweep data directory): the map, env steps run (the last point logged), wall
time and pace (env steps per second of the whole run, start-up, tests and logging
included), the first test whose win rate is above zero and the best, and the mean
enemies killed per test episode at the first, last and best test (100 greedy episodes
each). Deterministic: the same data gives the same bytes.
"""

import json
import sys
from datetime import datetime
from pathlib import Path


def first_above_zero(metric: dict) -> str:
    for step, value in zip(metric["steps"], metric["values"]):
        if value > 0:
            return f"{step:,}"
    return "never"


def first_last_max(metric: dict) -> str:
    values = metric["values"]
    return f"{values[0]:.2f} / {values[-1]:.2f} / {max(values):.2f}"


def row(run_dir: Path) -> str:
    config = json.loads((run_dir / "config.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    start = datetime.fromisoformat(run["start_time"])
    stop = datetime.fromisoformat(run["stop_time"])
    seconds = (stop - start).total_seconds()
    steps = max(m["steps"][-1] for m in metrics.values())  # the last point logged
    won, killed = metrics["test_battle_won_mean"], metrics["test_dead_enemies_mean"]
    return (
        f"| {config['env_args']['map_name']} | {config['seed']} | {steps:,} | "
        f"{seconds / 60:.0f} min | {steps / seconds:.0f} | {first_above_zero(won)} | "
        f"{max(won['values']):.2f} | {first_last_max(killed)} |"
    )


def main() -> None:
    store = Path(sys.argv[1])
    print(
        "| map | seed | env steps | wall | env steps/s | test win rate > 0 from | "
        "best test win rate | test enemies killed: first / last / best test |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run_dir in sorted(p for p in store.iterdir() if (p / "run.json").is_file()):
        print(row(run_dir))


if __name__ == "__main__":
    main()
