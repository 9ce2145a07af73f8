"""Run EPyMARL's real `src/main.py` while recording what its runner produces.

    python record_episodes.py OUT src/main.py ARGS...    (in an EPyMARL checkout)

Every runner of EPyMARL's registry (after the plugins registered theirs) is wrapped so
that each `run()` call appends a copy of the EpisodeBatch's tensors to a list, and the
pids of the runner's env processes are written to OUT.pids.json when it starts; the
list is saved to OUT (torch.save) when the runner closes its envs.
"""

import json
import runpy
import sys
from pathlib import Path

import torch

import epymarl_sn.plugin

out = Path(sys.argv[1])
sys.argv = sys.argv[2:]  # main.py's own command line
main = sys.argv[0]
sys.path.insert(0, str(Path(main).parent))  # as `python src/main.py` does
register = epymarl_sn.plugin.register


def recording(runner_class):
    class Recording(runner_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.recorded = []
            # the parallel runner's env processes are `ps`, the vector runner's `processes`
            processes = getattr(self, "processes", None) or getattr(self, "ps", [])
            Path(f"{out}.pids.json").write_text(json.dumps([p.pid for p in processes]))

        def run(self, test_mode=False):
            batch = super().run(test_mode=test_mode)
            self.recorded.append(
                {
                    "test_mode": test_mode,
                    **{key: value.clone() for key, value in batch.data.transition_data.items()},
                }
            )
            return batch

        def close_env(self):
            super().close_env()
            torch.save(self.recorded, out)

    return Recording


def recording_register():
    result = register()
    from runners import REGISTRY

    for name, runner_class in list(REGISTRY.items()):
        REGISTRY[name] = recording(runner_class)
    return result


epymarl_sn.plugin.register = recording_register
runpy.run_path(main, run_name="__main__")
