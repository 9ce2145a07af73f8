"""How a stopped run is started again from its checkpoint: the stopped run's own
command (`src/main.py ...` as it was started), from the checkout it ran in, with its
seed made explicit (a run without `seed=` got a random one) and, where asked, a new
t_max; EPYMARL_SN_RESUME names the checkpoint. The process it starts is the same
Sacred run (`tracking.files`, `tracking.observer`) in the same state
(`checkpoint.loop`)."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from epymarl_sn.checkpoint.config import RESUME_ENV, T_MAX_ENV
from epymarl_sn.checkpoint.files import Checkpoint, latest
from epymarl_sn.errors import CheckpointError


@dataclass(frozen=True)
class Resume:
    """A resumed run's process: run `argv` in `cwd` with `env` added to the environment."""

    checkpoint: Checkpoint
    cwd: Path
    argv: list[str]
    env: dict[str, str]


def resume_of(
    run_dir: Path, say: Callable[[str], None], t_max: Optional[int] = None
) -> Optional[Resume]:
    """How to resume the run whose file-storage directory is `run_dir` from its newest
    whole checkpoint; None if it has no checkpoint (CheckpointError if all it has is
    damaged)."""
    checkpoint = latest(run_dir, say)
    if checkpoint is None:
        return None
    meta = checkpoint.meta
    argv = list(meta["argv"])
    if "with" not in argv:
        argv.append("with")
    argv.append(f"seed={meta['config']['seed']}")
    env = {RESUME_ENV: str(checkpoint.path)}
    if t_max is not None:
        argv.append(f"t_max={t_max}")
        env[T_MAX_ENV] = str(t_max)
    cwd = Path(meta["cwd"])
    if not (cwd / argv[0]).is_file():
        raise CheckpointError(
            f"cannot resume from {checkpoint.path}: the run was started as {argv[0]} in "
            f"{cwd}, which is not there any more"
        )
    return Resume(checkpoint, cwd, [sys.executable, *argv], env)


def exec_resume(resume: Resume) -> None:
    """Become the resumed run's process (its signals and exit status are the run's)."""
    os.chdir(resume.cwd)
    os.execve(resume.argv[0], resume.argv, {**os.environ, **resume.env})
