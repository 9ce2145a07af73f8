"""Find the model files EPyMARL saved for one run, to store them as artifacts.

EPyMARL (src/run.py) saves to `<local_results_path>/models/<token>/<t_env>/` with
`token = f"{name}_seed{seed}_{map_name or key}_{datetime.now()}"`, created right
after the Sacred run starts. The run's token is the first one with its prefix
stamped at or after the run's start.
"""

from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from epymarl_sn.values import task_name


class SavedModels:
    def __init__(self, config: dict[str, Any], started: datetime) -> None:
        """`config`: the run's config; `started`: local time (EPyMARL's clock) at start."""
        self.enabled = bool(config.get("save_model"))
        self.root = Path(config.get("local_results_path", "results")).resolve() / "models"
        task = task_name(config.get("env_args", {}), None)
        self.prefix = f"{config.get('name')}_seed{config.get('seed')}_{task}_"
        self.started = started

    def run_dir(self) -> Optional[Path]:
        if not (self.enabled and self.root.is_dir()):
            return None
        stamped = []
        for d in self.root.iterdir():
            if d.is_dir() and d.name.startswith(self.prefix):
                try:
                    stamp = datetime.fromisoformat(d.name[len(self.prefix) :])
                except ValueError:
                    continue
                if stamp >= self.started:
                    stamped.append((stamp, d))
        return min(stamped)[1] if stamped else None

    def files(self, finished: bool) -> list[tuple[str, Path]]:
        """(artifact name, path) of the saved files, oldest save first.

        Until the run has `finished`, the newest save is left out: EPyMARL may
        still be writing it.
        """
        run_dir = self.run_dir()
        if run_dir is None:
            return []
        saves = sorted(
            (d for d in run_dir.iterdir() if d.is_dir() and d.name.isdigit()),
            key=lambda d: int(d.name),
        )
        if not finished:
            saves = saves[:-1]
        return [
            (f"models/{save.name}/{f.name}", f)
            for save in saves
            for f in sorted(save.iterdir())
            if f.is_file()
        ]
