"""The sparse envs through EPyMARL's src/main.py: training with mappo_sn, and clear
errors before a run that cannot work."""

import pytest

# a short mappo_sn run on SMAClite's 2s3z (5 v 5), logging often enough to see metrics
SMACLITE_2S3Z = (
    "--config=mappo_sn",
    "--env-config=smaclite_sparse",
    "with",
    "env_args.map_name=2s3z",
    "t_max=2000",
    "test_interval=1000",
    "test_nepisode=4",
    "log_interval=1000",
    "runner_log_interval=1000",
    "learner_log_interval=1000",
    "use_cuda=False",
)


@pytest.mark.parametrize(
    "runner",
    [
        ("batch_size_run=2", "buffer_size=2", "batch_size=2"),  # mappo_sn's vector runner
        ("runner=episode", "batch_size_run=1", "buffer_size=1", "batch_size=1", "t_max=600"),
    ],
)
def test_mappo_sn_trains_on_smaclite_sparse(run_main, runner):
    result = run_main(*SMACLITE_2S3Z, *runner, "seed=4")

    assert result.proc.returncode == 0, result.output[-3000:]
    (run,) = result.runs
    assert run.run["status"] == "COMPLETED"
    assert run.config["env"] == "smaclite_sparse"
    assert run.config["critic_type"] == "cv_critic_sn"
    assert run.config["seed"] == 4
    metrics = run.metrics
    for prefix in ("", "test_"):
        for name in ("battle_won_mean", "dead_enemies_mean", "dead_allies_mean"):
            assert metrics[prefix + name]["values"], prefix + name
        # the returns are the sparse reward of the same episodes: kills and losses
        # at 10 each, +200 per win, -200 per defeat (0 for a time-out), scaled as the
        # preset scales it: divided by public SMAC's max_reward / 50, on 2s3z (5 kills +
        # win + 2 stalkers' 80 hp + 80 shield + 3 zealots' 100 hp + 50 shield) / 50
        divisor = (5 * 10 + 200 + 2 * 160 + 3 * 150) / 50
        for ret, won, enemies, allies in zip(
            *(
                metrics[prefix + m]["values"]
                for m in ("return_mean", "battle_won_mean", "dead_enemies_mean", "dead_allies_mean")
            )
        ):
            no_defeat = (10 * enemies - 10 * allies + 200 * won) / divisor
            assert no_defeat - 200 / divisor - 1e-6 <= ret <= no_defeat + 1e-6
            assert 0 <= allies <= 5 and 0 <= enemies <= 5
        assert any(v > 0 for v in metrics[prefix + "dead_allies_mean"]["values"])


def test_sc2_sparse_without_starcraft_stops_before_the_run(run_main, tmp_path):
    # as on a machine without StarCraft II, even where this one has it
    nowhere = tmp_path / "StarCraftII"
    result = run_main(
        "--config=mappo_sn", "--env-config=sc2_sparse", env={"SC2PATH": str(nowhere)}, timeout=120
    )

    assert result.proc.returncode != 0
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.proc.stderr.splitlines() if ln.startswith("error:")]
    assert f"StarCraft II not found in {nowhere}" in line
    assert f"SC2PATH={nowhere}" in line
    assert "docker" in line and "smaclite_sparse" in line
    assert not result.runs


@pytest.mark.parametrize(
    "args, expected",
    [
        (("env_args.map_name=2s4z",), "unknown map '2s4z' for smaclite_sparse"),
        (
            ("env_args.reward_win=lots",),
            "env_args.reward_win: 'lots' (str) is not allowed; allowed: a number",
        ),
    ],
)
def test_bad_smaclite_sparse_config_stops_the_run_before_it_starts(run_main, args, expected):
    result = run_main(
        "--config=mappo_sn", "--env-config=smaclite_sparse", "with", *args, timeout=120
    )

    assert result.proc.returncode != 0
    assert "Traceback" not in result.output
    assert expected in result.proc.stderr
