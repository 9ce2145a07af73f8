"""What a training run prints first: its own lines, not the libraries' noise."""

import torch

from helpers import RWARE_TINY

NOISE = (
    "pkg_resources",  # sacred's import, with setuptools >= 80.9
    "PettingZoo is not installed",  # EPyMARL's notes on optional env families
    "VMAS is not installed",
    "git.cmd",  # GitPython's DEBUG lines for Sacred's git info
    "non-tuple sequence for multidimensional indexing",  # PyTorch, in EPyMARL's buffer
)


def test_a_run_starts_with_its_own_lines_and_keeps_real_warnings(run_main):
    # use_cuda=True on a machine without CUDA: EPyMARL's warning about the user's own
    # config must still show
    result = run_main("--config=mappo_sn", *RWARE_TINY, "use_cuda=True")
    assert result.proc.returncode == 0, result.output[-3000:]
    assert [r.run["status"] for r in result.runs] == ["COMPLETED"]
    for noise in NOISE:
        assert noise not in result.output
    # the log (stderr) opens with Sacred's first line of the run
    assert "Saving to FileStorageObserver" in result.proc.stderr.splitlines()[0]
    switched_off = "CUDA flag use_cuda was switched OFF automatically" in result.output
    assert switched_off == (not torch.cuda.is_available())


def test_a_pettingzoo_command_still_hears_that_pettingzoo_is_missing(run_main):
    result = run_main(
        "--config=mappo_sn", "--env-config=gymma", "with", "env_args.key=pz-mpe-simple-spread-v3"
    )
    assert "PettingZoo is not installed" in result.output
    assert "VMAS is not installed" not in result.output
