"""The vector runner's RWARE envs on the batched backend (`batched.rware`): all of a
batch's envs in the training process, behind the same send/recv as a worker's pipe
(`runners.slices.BatchedSlice`), writing into the runner's arrays what
`runners.vector.EnvSlice` writes for rware's own envs."""

from typing import Any

import numpy as np

from epymarl_sn.batched.rware import BatchedRware, obs_kernel, step_kernel
from epymarl_sn.runners.layout import array_layout, layout_bytes, observe
from epymarl_sn.runners.slices import BatchedSlice


class RwareSlice(BatchedSlice):
    """Every env of the batch; `envs` are EPyMARL GymmaWrappers around rware envs that
    `batched.rware.unsupported` accepted."""

    simulator = "RWARE"
    key = "rware_batched"

    def __init__(self, envs: list[Any], common_reward: bool, reward_scalarisation: str):
        super().__init__(envs)
        self.batch = BatchedRware(envs, common_reward, reward_scalarisation)
        self.common_reward = common_reward
        self.mean_reward = reward_scalarisation == "mean"

    def reset(self, _: None) -> None:
        a = self.attached()
        for i, env in enumerate(self.envs):
            self.batch.reset_env(i)
            observe(a, i, env)

    def step(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        a = self.attached()
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

    # random_state: each env's generator (rware's, which the batched rows draw from
    # too) is all a checkpoint needs: all else the rows hold is drawn anew at reset


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
