"""ppo_sn_learner's update time against EPyMARL's ppo_learner, and fused_gru's difference.

    epymarl-sn setup ./epymarl
    nice -n 19 python benchmarks/learner_speed.py --epymarl ./epymarl [--rounds 10]

One real batch: 10 RWARE tiny-2ag episodes of 500 steps (the env's default time limit)
collected by EPyMARL's episode runner with mappo_paper's actor. On it, in paired,
interleaved rounds (a different order each round), the CPU seconds of one `train` call
(one torch thread, logging off) of:

- ppo_learner: EPyMARL's own;
- ppo_sn_learner: the exact learner, and the same with one of its changes undone each
  (leave-one-out: the ratio to the full learner is what that change saves);
- ppo_sn_learner with fused_gru=True.

Then fused_gru's numerical difference: ppo_learner and fused_gru trained side by side
from the same state, --updates calls of train on the batch, logging every call: the
largest relative difference of any parameter tensor (max |a - b| / max |a|) and of each
logged stat after each call.

Prints markdown tables (medians, and ratios paired by round).
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from epymarl_sn.resources import main_config

ENV_KEY = "rware:rware-tiny-2ag-v2"


def preset_config(src, preset):
    config = main_config(src.parent, "gymma", preset)
    config["env_args"] = {"key": ENV_KEY, "time_limit": 500, "pretrained_wrapper": None, "seed": 1}
    config.update(use_cuda=False, device="cpu", runner="episode", batch_size_run=1)
    return SimpleNamespace(**config)


def real_batch(src, preset):
    """10 RWARE episodes from EPyMARL's episode runner, with run.py's scheme."""
    from components.episode_buffer import ReplayBuffer
    from components.transforms import OneHot
    from controllers import REGISTRY as macs
    from runners import REGISTRY as runners
    from utils.logging import Logger

    args = preset_config(src, preset)
    runner = runners[args.runner](args=args, logger=Logger(logging.getLogger("bench")))
    info = runner.get_env_info()
    args.n_agents, args.n_actions = info["n_agents"], info["n_actions"]
    args.state_shape = info["state_shape"]
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
    torch.manual_seed(0)
    mac = macs[args.mac](buffer.scheme, groups, args)
    runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    for _ in range(args.batch_size):
        buffer.insert_episode_batch(runner.run(test_mode=False))
    runner.close_env()
    batch = buffer.sample(args.batch_size)
    return batch[:, : batch.max_t_filled()], args


def variants():
    """name -> learner class: the stock one, the exact one, each change undone, fused."""
    from learners.ppo_learner import PPOLearner

    from epymarl_sn.sn.learner import PPOSNLearner

    class LoopedReturns(PPOSNLearner):
        nstep_returns = PPOLearner.nstep_returns

    class TargetsEachEpoch(PPOSNLearner):
        def _fixed_targets(self):
            return False

    class InputsEachStep(PPOSNLearner):
        def _sequence_inputs(self, batch):
            return None

    return {
        "ppo_learner": (PPOLearner, {}),
        "ppo_sn_learner": (PPOSNLearner, {}),
        "- vectorised n-step returns": (LoopedReturns, {}),
        "- n-step returns once per update": (TargetsEachEpoch, {}),
        "- inputs once per batch": (InputsEachStep, {}),
        "ppo_sn_learner, fused_gru": (PPOSNLearner, {"fused_gru": True}),
    }


def build(cls, batch, args, **overrides):
    from controllers import REGISTRY as macs
    from utils.logging import Logger

    args = SimpleNamespace(**{**vars(args), **overrides})
    torch.manual_seed(0)
    mac = macs[args.mac](batch.scheme, {"agents": args.n_agents}, args)
    return cls(mac, batch.scheme, Logger(logging.getLogger("bench")), args)


def timings(batch, args, rounds):
    built = {
        name: build(cls, batch, args, learner_log_interval=10**12, **over)
        for name, (cls, over) in variants().items()
    }
    for learner in built.values():  # the first call logs (PPOLearner always does)
        learner.train(batch, 0, 0)
    names = list(built)
    seconds = {name: [] for name in names}
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.process_time()
            built[name].train(batch, 1000 * (i + 1), 10 * (i + 1))
            seconds[name].append(time.process_time() - start)
    return seconds


def old_policy_cost(batch, args, rounds):
    """The old policy's forward as ppo_learner runs it (with a graph) and under no_grad,
    against nothing (ppo_sn_learner reuses the first epoch's)."""
    learner = build(variants()["ppo_sn_learner"][0], batch, args)
    steps = batch.max_seq_length - 1
    out = {"with a graph": [], "no_grad": []}

    def forward():
        learner.old_mac.init_hidden(batch.batch_size)
        return torch.stack([learner.old_mac.forward(batch, t=t) for t in range(steps)], dim=1)

    for _ in range(rounds):
        start = time.process_time()
        forward()
        out["with a graph"].append(time.process_time() - start)
        with torch.no_grad():
            start = time.process_time()
            forward()
            out["no_grad"].append(time.process_time() - start)
    return out


def fused_difference(batch, args, updates):
    """Per update: the largest relative parameter difference and per-stat differences
    between ppo_learner and ppo_sn_learner with fused_gru, from the same state."""
    from learners.ppo_learner import PPOLearner

    from epymarl_sn.sn.learner import PPOSNLearner

    stock = build(PPOLearner, batch, args, learner_log_interval=0)
    fused = build(PPOSNLearner, batch, args, learner_log_interval=0, fused_gru=True)
    rows = []
    for i in range(updates):
        stock.train(batch, i, i)
        fused.train(batch, i, i)
        params = 0.0
        for a, b in zip(
            [*stock.mac.parameters(), *stock.critic.parameters()],
            [*fused.mac.parameters(), *fused.critic.parameters()],
        ):
            params = max(params, ((a - b).abs().max() / a.abs().max()).item())
        stats = {
            key: abs(values[-1][1] - fused.logger.stats[key][-1][1])
            / max(abs(values[-1][1]), 1e-12)
            for key, values in stock.logger.stats.items()
        }
        rows.append((params, stats))
    return rows


def table(samples, base):
    lines = [
        "| learner | CPU s per update (median) | ratio to ppo_learner (median of paired) |",
        "|---|---|---|",
    ]
    for name, values in samples.items():
        ratio = statistics.median(b / v for b, v in zip(samples[base], values))
        lines.append(f"| {name} | {statistics.median(values):.3f} | {ratio:.2f}x |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epymarl", type=Path, required=True, help="an EPyMARL checkout")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--preset", default="mappo_paper")
    options = parser.parse_args()
    src = (options.epymarl / "src").resolve()
    sys.path.insert(0, str(src))
    from epymarl_sn.plugin import register

    register()
    torch.set_num_threads(1)
    batch, args = real_batch(src, options.preset)
    print(f"batch: {batch.batch_size} episodes x {batch.max_seq_length - 1} steps, {args.name}")
    seconds = timings(batch, args, options.rounds)
    print(table(seconds, "ppo_learner"))
    full = seconds["ppo_sn_learner"]
    print("\n| change undone | CPU s per update | ratio to ppo_sn_learner (paired) |")
    print("|---|---|---|")
    for name, values in seconds.items():
        if name.startswith("- "):
            ratio = statistics.median(v / f for v, f in zip(values, full))
            print(f"| {name[2:]} | {statistics.median(values):.3f} | {ratio:.2f}x |")
    old = old_policy_cost(batch, args, options.rounds)
    print("\n| old policy forward | CPU s |\n|---|---|")
    for name, values in old.items():
        print(f"| {name} | {statistics.median(values):.3f} |")
    rows = fused_difference(batch, args, options.updates)
    print("\n| update | max rel. param diff | max rel. logged-stat diff (stat) |\n|---|---|---|")
    for i, (params, stats) in enumerate(rows, 1):
        key = max(stats, key=stats.get)
        print(f"| {i} | {params:.2e} | {stats[key]:.2e} ({key}) |")


if __name__ == "__main__":
    main()
