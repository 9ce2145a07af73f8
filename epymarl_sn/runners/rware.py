"""The vector runner's RWARE envs on the batched backend (`batched.rware`): all of a
batch's envs in the training process, behind the same send/recv as a worker's pipe,
writing into the runner's arrays what `runners.vector.EnvSlice` writes for rware's own
envs."""

from typing import Any, Optional

import numpy as np

from epymarl_sn.batched.rware import BatchedRware, obs_kernel, step_kernel
from epymarl_sn.checkpoint.state import env_random_state, set_env_random_state
from epymarl_sn.runners.layout import (
    Buffer,
    Layout,
    array_layout,
    array_views,
    layout_bytes,
    observe,
)


class RwareSlice:
    """Every env of the batch; `envs` are EPyMARL GymmaWrappers around rware envs that
    `batched.rware.unsupported` accepted."""

    def __init__(self, envs: list[Any], common_reward: bool, reward_scalarisation: str):
        self.envs = envs
        self.batch = BatchedRware(envs, common_reward, reward_scalarisation)
        self.common_reward = common_reward
        self.mean_reward = reward_scalarisation == "mean"
        self.arrays: Optional[dict[str, np.ndarray]] = None
        self.reply: Optional[tuple[str, Any]] = None

    def send(self, obj: tuple[str, Any]) -> None:
        cmd, data = obj
        self.reply = ("ok", getattr(self, cmd)(data))

    def recv(self) -> Optional[tuple[str, Any]]:
        return self.reply

    def get_env_info(self, _: None) -> dict[str, Any]:
        return self.envs[0].get_env_info()

    def attach(self, data: tuple[Buffer, Layout]) -> None:
        buffer, layout = data
        self.arrays = array_views(buffer, layout)

    def reset(self, _: None) -> None:
        a = self.arrays
        assert a is not None, "the runner attaches its arrays first"
        for i, env in enumerate(self.envs):
            self.batch.reset_env(i)
            observe(a, i, env)

    def step(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        a = self.arrays
        assert a is not None, "the runner attaches its arrays first"
        envs = np.asarray(indices, dtype=np.int64)
        ended = self.batch.step(envs, a["actions"])
        obs = self.batch.obs[envs]
        a["obs"][envs] = obs
        a["state"][envs] = obs.reshape(len(envs), -1)  # GymmaWrapper: the obs concatenated
        rewards = self.batch.rewards[envs]
        if self.common_reward:
            # rware's rewards are multiples of 0.5: any summation order gives the same sum
            total = rewards.sum(axis=1)
            a["reward"][envs] = total / rewards.shape[1] if self.mean_reward else total
        else:
            a["reward"][envs] = rewards
        a["terminated"][envs] = ended
        return {int(i): {} for i in envs[ended]}  # rware's info dicts are empty

    def random_state(self, _: None) -> dict[str, Any]:
        """Each env's generator (rware's, which the batched rows draw from too): all
        else the rows hold is drawn anew when the envs reset."""
        return {"envs": [env_random_state(env) for env in self.envs], "process": None}

    def set_random_state(self, saved: dict[str, Any]) -> None:
        for env, generator in zip(self.envs, saved["envs"]):
            set_env_random_state(env, generator)

    def render(self, _: None) -> None:
        raise RuntimeError("the batched RWARE backend does not render; set rware_batched=False")

    def save_replay(self, _: None) -> None:
        self.envs[0].save_replay()

    def close(self, _: None) -> None:
        for env in self.envs:
            env.close()


def compile_kernels() -> dict[str, int]:
    """Compile the batched backend's numba kernels, or load them from numba's cache, as
    a run's first step would: one tiny-2ag env reset and stepped (EPyMARL's `envs` must
    be importable). Returns each kernel's count of signatures loaded from the cache."""
    from envs import REGISTRY

    env = REGISTRY["gymma"](
        key="rware:rware-tiny-2ag-v2",
        time_limit=2,
        pretrained_wrapper=None,
        seed=0,
        common_reward=True,
        reward_scalarisation="sum",
    )
    envs = RwareSlice([env], common_reward=True, reward_scalarisation="sum")
    layout = array_layout(1, env.get_env_info(), common_reward=True)
    envs.attach((bytearray(layout_bytes(layout)), layout))
    envs.reset(None)
    envs.step([0])
    envs.close(None)
    kernels: dict[str, Any] = {
        "step_kernel": step_kernel,
        "obs_kernel": obs_kernel,
    }
    return {name: sum(k.stats.cache_hits.values()) for name, k in kernels.items()}
