"""The vector runner's SMAClite envs on the batched backend (`batched.smaclite`): all of
a batch's envs in the training process, behind the same send/recv as a worker's pipe
(`runners.slices.BatchedSlice`), writing into the runner's arrays what EnvSlice writes
for SMAClite's own envs."""

from typing import Any

import numpy as np

from epymarl_sn.batched.smaclite import BatchedSmaclite
from epymarl_sn.envs.reward import outcome_from_survivors
from epymarl_sn.runners.layout import array_layout, layout_bytes
from epymarl_sn.runners.slices import BatchedSlice


class SmacliteSlice(BatchedSlice):
    """Every env of the batch; `envs` are the plugin's SparseSMACliteWrappers around
    SMAClite games that `batched.smaclite.unsupported` accepted."""

    simulator = "SMAClite"
    key = "smaclite_batched"

    def __init__(self, envs: list[Any]):
        super().__init__(envs)
        self.batch = BatchedSmaclite(envs)
        self.state_size = envs[0].get_state_size()

    def observe(self, envs: np.ndarray) -> None:
        """The rows `envs` of the backend's observations, available actions and state
        into the runner's arrays."""
        a = self.attached()
        b = self.batch
        a["obs"][envs] = b.obs_out[envs]
        a["avail_actions"][envs] = b.avail_out[envs]
        # SMAClite's state: the units' features, then every agent's last action, cut to
        # the wrapper's state size (state_last_action)
        n = b.state_out.shape[1]
        a["state"][envs, : min(n, self.state_size)] = b.state_out[envs, : self.state_size]
        if self.state_size > n:
            a["state"][envs, n:] = b.last_actions[envs]

    def reset(self, _: None) -> None:
        for i in range(len(self.envs)):
            self.batch.reset_env(i)
        self.observe(np.arange(len(self.envs)))

    def step(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        a = self.attached()
        envs = np.asarray(indices, dtype=np.int64)
        b = self.batch
        b.step(envs, a["actions"])
        self.observe(envs)
        ended: dict[int, dict[str, Any]] = {}
        for e in envs:
            env = self.envs[e]
            allies, enemies = b.alive(e)
            terminated = allies == 0 or enemies == 0
            truncated = bool(b.elapsed[e] >= b.time_limit)  # gymnasium's TimeLimit
            outcome = outcome_from_survivors(allies, enemies, time_up=truncated)
            reward, sparse_info = env.tracker.step(
                b.n_agents - allies, b.n_enemies - enemies, outcome
            )
            a["reward"][e] = reward
            a["terminated"][e] = terminated or truncated
            if terminated or truncated:
                ended[int(e)] = {"battle_won": enemies == 0, **sparse_info}
        return ended

    def random_state(self, _: None) -> dict[str, Any]:
        """Each env's SMAClite generator (the rows' shuffles draw from it) and the last
        actions a reset keeps (the state's tail): all else the rows hold is SMAClite's
        reset, made anew when the envs reset."""
        return {**super().random_state(None), "last_actions": self.batch.last_actions.copy()}

    def set_random_state(self, saved: dict[str, Any]) -> None:
        super().set_random_state(saved)
        self.batch.last_actions[:] = saved["last_actions"]


def compile_kernels() -> dict[str, int]:
    """Compile the batched SMAClite backend's numba kernels, or load them from numba's
    cache, as a run's first step would: one 2s3z env reset and stepped, and the laser's
    kernels called (EPyMARL's `envs` must be importable). Returns each kernel's count of
    signatures loaded from the cache."""
    from epymarl_sn.batched import smaclite_kernel
    from epymarl_sn.envs.factories import smaclite_sparse_fn

    env = smaclite_sparse_fn(
        map_name="2s3z",
        seed=0,
        use_cpp_rvo2=False,
        common_reward=True,
        reward_scalarisation="sum",
    )
    envs = SmacliteSlice([env])
    layout = array_layout(1, env.get_env_info(), common_reward=True)
    envs.attach((bytearray(layout_bytes(layout)), layout))
    envs.reset(None)
    envs.attached()["actions"][0] = 1  # stop: always available to a unit alive
    envs.step([0])
    # what a laser (2c_vs_64zg's colossus) calls from Python, with the types it passes
    b = envs.batch
    smaclite_kernel.apply_hits(b.st, b.us, b.dmg, 0, 0, np.zeros(0, np.int64))
    pts = b.enemy_slots[b.sti[0, b.enemy_slots, smaclite_kernel.LIVE] > 0]
    smaclite_kernel.tree_query(b.pos0, 0, pts, len(pts), 0.0, 0.0, 1.0, b.hit_slot, b.hit_dist, 0)
    envs.close(None)
    kernels: dict[str, Any] = {
        "shuffles": smaclite_kernel.shuffles,
        "world_prepare": smaclite_kernel.world_prepare,
        "unit_steps": smaclite_kernel.unit_steps,
        "observe": smaclite_kernel.observe,
        "apply_hits": smaclite_kernel.apply_hits,
        "tree_query": smaclite_kernel.tree_query,
    }
    return {name: sum(k.stats.cache_hits.values()) for name, k in kernels.items()}
