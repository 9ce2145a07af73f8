"""The largest value each run logged of one metric, and each variant's difference from
MAPPO's (`mappo_paper`) on it, from a sweep's committed runs alone: the "maximum over
training" of docs/smac_fig3.md's Fig. 5 measures.

    python benchmarks/peak_table.py docs/data/smac_fig3 critic_grad_norm \
        > docs/smac_fig3/fig5_peak.md

The raw logged values (no smoothing), per map; the difference with the 95% Welch
t-interval, its degrees of freedom and the 80%-power MDE of `epymarl-sn plot --claim`.
`--after F` takes the largest value logged after the first fraction F of each run's
steps instead, past the first update's gradient, which is the whole run's largest on
most SMAClite runs. Deterministic: the same data gives the same bytes.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from epymarl_sn.plot.aggregate import number
from epymarl_sn.plot.claims import welch

BASELINE = "mappo_paper"


def peaks(
    store: Path, metric: str, after: float = 0.0
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(map, config) -> [(seed, peak)], in seed order; the peak over the steps past the
    fraction `after` of the run's t_max."""
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for run_dir in sorted(p for p in store.iterdir() if (p / "metrics.json").is_file()):
        config = json.loads((run_dir / "config.json").read_text())
        logged = json.loads((run_dir / "metrics.json").read_text())[metric]
        start = after * config["t_max"]
        values = [v for s, v in zip(logged["steps"], logged["values"]) if s > start]
        key = (config["env_args"]["map_name"], config["name"])
        found.setdefault(key, []).append((config["seed"], max(values)))
    return {k: sorted(v) for k, v in sorted(found.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a sweep's data_dir, e.g. docs/data/smac_fig3")
    parser.add_argument("metric", help="a logged metric, e.g. critic_grad_norm")
    parser.add_argument(
        "--after",
        type=float,
        default=0.0,
        help="skip the first fraction of each run's t_max, in [0, 1) (default 0: the whole run)",
    )
    args = parser.parse_args()
    if not 0.0 <= args.after < 1.0:
        parser.error(f"--after {args.after}: a fraction in [0, 1) is allowed, e.g. --after 0.1")
    runs = peaks(args.store, args.metric, args.after)
    metric = args.metric
    span = f" after the first {args.after:.0%} of its steps" if args.after else ""
    print(f"Largest `{metric}` each run logged{span} (raw, not smoothed), per seed:\n")
    print("| map | config | runs | peaks by seed | mean |")
    print("|---|---|---:|---|---:|")
    for (map_name, name), rows in runs.items():
        values = ", ".join(f"{seed}: {peak:.3g}" for seed, peak in rows)
        mean = np.mean([p for _, p in rows])
        print(f"| {map_name} | {name} | {len(rows)} | {values} | {mean:.3g} |")
    print(f"\nDifference from {BASELINE} (95% Welch t-interval, Welch df, MDE at 80% power):\n")
    print("| map | config | difference | 95% CI | Welch df | MDE |")
    print("|---|---|---:|---|---:|---:|")
    for (map_name, name), rows in runs.items():
        base = runs.get((map_name, BASELINE))
        if name == BASELINE or base is None:
            continue
        a, b = np.array([p for _, p in rows]), np.array([p for _, p in base])
        w = welch(a, b)
        print(
            f"| {map_name} | {name} | {a.mean() - b.mean():+.3g} | "
            f"[{number(w.low, '+.3g')}, {number(w.high, '+.3g')}] | "
            f"{number(w.df, '.1f')} | {number(w.mde, '.3g')} |"
        )


if __name__ == "__main__":
    main()
