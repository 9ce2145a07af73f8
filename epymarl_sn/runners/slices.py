"""What every slice of the vector runner's envs does alike, whoever steps them (a worker
process's envs, the training process's with `vector_workers: 0`, a batched backend's):
the runner's commands answered by name, behind a pipe's send/recv where the slice is in
the training process; the runner's arrays attached; the first env's info and replay;
each env's generator in a checkpoint; every env closed. A slice adds `reset` and `step`
(and `render` where its envs can); `runners.vector`, `runners.rware` and
`runners.smaclite` hold them."""

from typing import Any, Callable, ClassVar, Optional

import numpy as np

from epymarl_sn.checkpoint.state import env_random_state, set_env_random_state
from epymarl_sn.runners.layout import Buffer, Layout, array_views

EnvFn = Callable[[], Any]  # makes one of EPyMARL's envs


class Slice:
    """Envs of the batch, and the runner's arrays they are written into."""

    def __init__(self, envs: list[Any]) -> None:
        self.envs = envs
        self.arrays: Optional[dict[str, np.ndarray]] = None  # set by `attach`
        self.reply: Optional[tuple[str, Any]] = None  # `send`'s, for `recv`

    def handle(self, cmd: str, data: Any) -> Any:
        """The runner's command `cmd` (a method of the slice) on `data`; its reply."""
        return getattr(self, cmd)(data)

    # in the training process the slice stands where a worker's pipe would
    def send(self, obj: tuple[str, Any]) -> None:
        self.reply = ("ok", self.handle(*obj))

    def recv(self) -> Optional[tuple[str, Any]]:
        return self.reply

    def attach(self, data: tuple[Buffer, Layout]) -> None:
        buffer, layout = data
        self.arrays = array_views(buffer, layout)

    def attached(self) -> dict[str, np.ndarray]:
        """The runner's arrays, which it attaches before any reset or step."""
        assert self.arrays is not None, "the runner attaches its arrays first"
        return self.arrays

    def get_env_info(self, _: None) -> dict[str, Any]:
        return self.envs[0].get_env_info()

    def random_state(self, _: None) -> dict[str, Any]:
        """Each env's own generator: what a checkpoint holds of the envs between
        episodes (`process`: a worker process's global streams, where it has them)."""
        return {"envs": [env_random_state(env) for env in self.envs], "process": None}

    def set_random_state(self, saved: dict[str, Any]) -> None:
        for env, generator in zip(self.envs, saved["envs"]):
            set_env_random_state(env, generator)

    def save_replay(self, _: None) -> None:
        self.envs[0].save_replay()

    def close(self, _: None) -> None:
        for env in self.envs:
            env.close()


class BatchedSlice(Slice):
    """Every env of the batch, stepped together by a batched backend in the training
    process."""

    simulator: ClassVar[str]  # the simulator it stands in for, as messages name it
    key: ClassVar[str]  # the config key that turns the backend off

    def render(self, _: None) -> None:
        raise RuntimeError(
            f"the batched {self.simulator} backend does not render; set {self.key}=False"
        )
