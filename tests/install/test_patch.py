"""The EPyMARL patch: applies to the pinned commit, keeps stock EPyMARL working,
and makes plugin configs and clear config errors available."""

from epymarl_sn.install.upstreams import EPYMARL, cached_git_dir, git
from epymarl_sn.resources import patch_file

from helpers import RWARE_TINY


def test_patch_applies_cleanly_to_pinned_commit_and_touches_only_main_and_run(tmp_path):
    checkout = tmp_path / "epymarl"
    git("clone", "--quiet", "--no-checkout", str(cached_git_dir(EPYMARL)), str(checkout))
    git("checkout", "--quiet", "--detach", EPYMARL.commit, cwd=checkout)

    git("apply", "--check", str(patch_file()), cwd=checkout)
    git("apply", str(patch_file()), cwd=checkout)

    # main.py loads plugins; run.py's loop gives the runner its checkpoint hooks
    assert git("diff", "--name-only", cwd=checkout).splitlines() == ["src/main.py", "src/run.py"]
    status = [line.strip() for line in git("status", "--porcelain", cwd=checkout).splitlines()]
    assert status == ["M src/main.py", "M src/run.py"]  # no new files either


def test_stock_mappo_still_trains_with_patch(run_main):
    result = run_main("--config=mappo", *RWARE_TINY)

    assert result.proc.returncode == 0, result.output[-3000:]
    (run,) = result.runs
    assert run.run["status"] == "COMPLETED"
    assert run.config["name"] == "mappo"
    assert run.config["critic_type"] == "cv_critic"
    assert len(run.metrics["return_mean"]["values"]) >= 1


def test_unknown_config_lists_available_names_without_traceback(run_main):
    result = run_main("--config=mappo_nope", *RWARE_TINY)

    assert result.proc.returncode != 0
    assert "Traceback" not in result.output
    errors = [ln for ln in result.proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: unknown --config 'mappo_nope'. Available: ")
    available = errors[0].split("Available: ")[1].split(", ")
    # EPyMARL's own configs and the plugin's
    assert {"mappo", "qmix", "mappo_paper"} <= set(available)
    assert result.runs == []


def test_unknown_env_config_lists_available_names(run_main):
    result = run_main("--config=mappo_paper", "--env-config=rwarez")

    assert result.proc.returncode != 0
    assert "Traceback" not in result.output
    assert "error: unknown --env-config 'rwarez'. Available: " in result.proc.stderr
    assert "gymma" in result.proc.stderr.split("Available: ")[1]
