"""The per-env arrays the vector runner shares with whatever steps its envs (worker
processes, the batched backends): their layout, the memory under them, and an env's
observation written into its row. Both `runners.vector` and `runners.rware` use them;
this module imports neither."""

import mmap
import os
import tempfile
from typing import Any, Union

import numpy as np

# name -> (shape, dtype) of the per-env arrays in the shared block
Layout = dict[str, tuple[tuple[int, ...], type[np.generic]]]
# what the arrays are laid over: a shared mapping, or a bytearray with `vector_workers: 0`
Buffer = Union[mmap.mmap, bytearray]


def array_layout(batch_size: int, env_info: dict[str, Any], common_reward: bool) -> Layout:
    """Name -> (shape, dtype) of the per-env arrays workers share with the runner. The
    dtypes are the batch scheme's (obs and state float32, avail_actions int32), so
    copying into the batch converts exactly as EPyMARL's `EpisodeBatch.update` does;
    rewards are float64, the returns summed from them equal the parallel runner's for
    envs whose rewards are Python or float64 numbers (EPyMARL's wrappers)."""
    n_agents, n_actions = env_info["n_agents"], env_info["n_actions"]
    return {
        "obs": ((batch_size, n_agents, env_info["obs_shape"]), np.float32),
        "state": ((batch_size, env_info["state_shape"]), np.float32),
        "avail_actions": ((batch_size, n_agents, n_actions), np.int32),
        "reward": ((batch_size,) if common_reward else (batch_size, n_agents), np.float64),
        "terminated": ((batch_size,), np.bool_),
        "actions": ((batch_size, n_agents), np.int64),
    }


def layout_bytes(layout: Layout) -> int:
    return sum(
        _padded(int(np.prod(shape)) * np.dtype(dtype).itemsize) for shape, dtype in layout.values()
    )


def _padded(n: int) -> int:
    return -(-n // 8) * 8  # keep every array 8-byte aligned


def shared_memory_fd(size: int) -> int:
    """A file descriptor of `size` bytes of memory that processes can map together."""
    if hasattr(os, "memfd_create"):  # Linux
        fd = os.memfd_create("epymarl-sn-vector-runner")
    else:  # an unlinked temporary file
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    os.ftruncate(fd, size)
    return fd


def array_views(buffer: Buffer, layout: Layout) -> dict[str, np.ndarray]:
    """Numpy arrays over `buffer` (a shared mapping or a bytearray), laid out by `layout`."""
    views: dict[str, np.ndarray] = {}
    offset = 0
    for name, (shape, dtype) in layout.items():
        count = int(np.prod(shape))
        views[name] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        offset += _padded(count * np.dtype(dtype).itemsize)
    return views


def observe(a: dict[str, np.ndarray], i: int, env: Any) -> None:
    """Env `i`'s state, available actions and observations (EPyMARL's env) into row `i`,
    in the order of the parallel runner's env_worker: state, avail_actions, obs."""
    a["state"][i] = env.get_state()
    a["avail_actions"][i] = env.get_avail_actions()
    a["obs"][i] = np.asarray(env.get_obs())
