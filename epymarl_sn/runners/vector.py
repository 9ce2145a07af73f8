"""`runner: vector`: EPyMARL's parallel runner, with the envs stepped by a few workers.

EPyMARL's `parallel` runner gives every env of the batch its own process and pickles
each step's observations, state and masks through that env's pipe. This runner
produces the same episodes (same env seeds: env i gets `seed + i`; the same actions
drawn by the controller; the same batch contents and logged stats) from a small fixed
pool of worker processes, each owning a contiguous slice of the envs:

- the per-env arrays (obs, state, avail_actions, reward, terminated, and the actions
  sent to the envs) live in one shared-memory block, an anonymous file (memfd) whose
  descriptor goes to the workers through their pipes: no name that could leak, no
  helper process;
- pipes carry only commands (`step` with the env indices to step) and the info dicts
  of envs whose episode just ended.

Config keys (besides EPyMARL's `batch_size_run`, the number of envs):

    vector_workers: null   # worker processes; null = one per core (at most
                           # batch_size_run); 0 = step the envs in the training process

    rware_batched: True    # RWARE envs: all stepped at once in the training process by
                           # the batched backend (batched.rware, runners.rware), same
                           # episodes; where it cannot apply, one log line says why
    smaclite_batched: True # smaclite_sparse envs likewise (batched.smaclite,
                           # runners.smaclite); runners.backend decides which applies

`vector_workers` is an integer from 0 to batch_size_run, checked before the run starts.
Sacred accepts `with vector_workers=N` only for a config that has the key (as the plugin's presets
do); without it the default applies.

Workers die with the training process (a parent-death signal on Linux, daemon
processes, EOF on their pipe) and are joined by `close_env`.
"""

import mmap
import os
import signal
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from types import SimpleNamespace
from typing import Any, Optional, Protocol, Union

import numpy as np
import torch as th
from components.episode_buffer import EpisodeBatch
from envs import REGISTRY as env_REGISTRY
from envs import register_smac, register_smacv2
from runners.parallel_runner import CloudpickleWrapper, ParallelRunner
from torch.distributions import Distribution
from utils.logging import Logger

from epymarl_sn.checkpoint.loop import Checkpointer
from epymarl_sn.checkpoint.state import random_streams, set_random_streams
from epymarl_sn.runners.backend import stepping
from epymarl_sn.runners.config import vector_keys, worker_count
from epymarl_sn.runners.layout import (
    array_layout,
    array_views,
    layout_bytes,
    observe,
    shared_memory_fd,
)
from epymarl_sn.runners.slices import EnvFn, Slice
from epymarl_sn.waiting import die_with_parent

# seconds a worker gets to close its envs before it is terminated
CLOSE_TIMEOUT = 30


class EnvSlice(Slice):
    """Envs `first`, `first + 1`, ... of the batch; commands come from the runner (a pipe
    in a worker process, a direct call with `vector_workers: 0`). Each env is driven
    exactly as the parallel runner's `env_worker` drives it, in the same call order."""

    def __init__(self, env_fns: Sequence[EnvFn], first: int):
        super().__init__([fn() for fn in env_fns])
        self.first = first
        # in a worker process: its global random streams are part of the envs' state
        self.own_process = False

    def reset(self, _: None) -> None:
        a = self.attached()
        for i, env in enumerate(self.envs, self.first):
            env.reset()
            observe(a, i, env)

    def step(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        """Step the envs `indices` with the actions in the shared array; returns the
        info dicts of those whose episode ended, the only per-step data piped back."""
        a = self.attached()
        ended_infos = {}
        for i in indices:
            env = self.envs[i - self.first]
            # a copy: an env may keep the actions it was given
            _, reward, terminated, truncated, info = env.step(a["actions"][i].copy())
            terminated = terminated or truncated
            observe(a, i, env)
            a["reward"][i] = reward
            a["terminated"][i] = terminated
            if terminated:
                ended_infos[i] = info
        return ended_infos

    def random_state(self, _: None) -> dict[str, Any]:
        """Each env's own generator, and a worker process's global streams (an env may
        draw from them)."""
        saved = super().random_state(None)
        if self.own_process:
            saved["process"] = random_streams()
        return saved

    def set_random_state(self, saved: dict[str, Any]) -> None:
        super().set_random_state(saved)
        if saved["process"] is not None:
            set_random_streams(saved["process"])

    def render(self, _: None) -> None:
        self.envs[0].render()


def worker_main(conn: Connection, env_fns: CloudpickleWrapper, first: int, parent_pid: int) -> None:
    """A worker process: build its envs, then answer the runner's commands until `close`
    or until the runner is gone."""
    # the stop signals are the training process's to handle (a signal to the whole
    # process group, as Slurm sends, must not end a worker before the training process
    # has written its checkpoint): it closes or kills the workers
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    die_with_parent(parent_pid)  # multiprocessing's daemon flag covers only a normal exit
    try:
        envs = EnvSlice(env_fns.x, first)
        envs.own_process = True
        while True:
            cmd, data = conn.recv()
            if cmd == "attach":  # the shared block's descriptor follows the command
                fd = recv_handle(conn)
                data = (mmap.mmap(fd, layout_bytes(data)), data)
                os.close(fd)  # the mapping stays
            reply = envs.handle(cmd, data)
            if cmd not in ("render", "save_replay"):  # the parallel runner's no-reply commands
                conn.send(("ok", reply))
            if cmd == "close":
                return
    except EOFError:  # the runner closed its end or died
        return
    except Exception:  # noqa: BLE001 - any env error goes to the runner, which raises it
        conn.send(("error", traceback.format_exc()))


class CommandPipe(Protocol):
    """The runner's end of a worker's pipe: `send((cmd, data))`, `recv()` a reply."""

    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...


def write_step(
    batch: EpisodeBatch,
    data: dict[str, th.Tensor],
    rows: list[int],
    t: int,
    mark_filled: bool,
) -> None:
    """`batch.update(data, bs=rows, ts=t, mark_filled=mark_filled)` for transition data,
    without its per-call parsing, copies and checks: the same values in the same places
    (the assignment casts to the scheme's dtype, as there), preprocessing included
    (actions -> actions_onehot)."""
    target = batch.data.transition_data
    index = (rows, slice(t, t + 1))
    if mark_filled:
        target["filled"][index] = 1
    for key, value in data.items():
        target[key][index] = value.reshape(len(rows), 1, *target[key].shape[2:])
        if key in batch.preprocess:
            new_key, transforms = batch.preprocess[key]
            new = target[key][index]
            for transform in transforms:
                new = transform.transform(new)
            target[new_key][index] = new.reshape(len(rows), 1, *target[new_key].shape[2:])


@contextmanager
def sampling_only() -> Iterator[None]:
    """Select actions without what does not change them: no autograd graph (the learner
    runs its own forward) and no validation of each Categorical's probabilities."""
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        with th.no_grad():
            yield
    finally:
        Distribution.set_default_validate_args(validate)


class VectorRunner(ParallelRunner):
    """Drop-in for EPyMARL's ParallelRunner (see the module docstring). It inherits
    `setup`, `get_env_info` and `_log` unchanged; `run` is the parallel runner's loop
    with the pipes replaced by shared arrays."""

    # ParallelRunner.__init__ would start its processes
    def __init__(self, args: SimpleNamespace, logger: Logger):
        self.args = args
        self.logger = logger
        self.batch_size = self.args.batch_size_run

        # registering both smac and smacv2 causes a pysc2 error (as in ParallelRunner)
        if self.args.env == "sc2":
            register_smac()
        elif self.args.env == "sc2v2":
            register_smacv2()

        # the parallel runner's env seeds: env i gets seed + i
        env_fn = env_REGISTRY[self.args.env]
        env_fns: list[EnvFn] = []
        for i in range(self.batch_size):
            env_arg = self.args.env_args.copy()
            env_arg["seed"] += i
            env_arg["common_reward"] = self.args.common_reward
            env_arg["reward_scalarisation"] = self.args.reward_scalarisation
            env_fns.append(partial(env_fn, **env_arg))

        vector = vector_keys(vars(self.args))
        how = stepping(self.args, vector, env_fns)
        if how.why is not None:
            self.logger.console_logger.info(how.why)
        self.processes: list[Process] = []
        pipes: list[Connection] = []  # to the worker processes (none with 0 workers)
        self.conns: list[CommandPipe]
        n_workers = 0 if how.batched is not None else worker_count(vector, self.batch_size)
        if n_workers == 0:  # every env in the training process
            self.slices = [(0, self.batch_size)]
            self.conns = [how.batched if how.batched is not None else EnvSlice(env_fns, 0)]
        else:
            pipes = self._start_workers(env_fns, n_workers)
            self.conns = list(pipes)

        self.env_info: dict[str, Any] = self._call(0, "get_env_info")
        self.episode_limit = self.env_info["episode_limit"]
        layout = array_layout(self.batch_size, self.env_info, self.args.common_reward)
        self.arrays: Optional[dict[str, np.ndarray]]  # None once the envs are closed
        if n_workers == 0:
            buffer = bytearray(layout_bytes(layout))
            self.arrays = array_views(buffer, layout)
            self._call(0, "attach", (buffer, layout))
        else:
            fd = shared_memory_fd(layout_bytes(layout))
            self.arrays = array_views(mmap.mmap(fd, layout_bytes(layout)), layout)
            for w, (pipe, process) in enumerate(zip(pipes, self.processes)):
                self._send(w, "attach", layout)
                assert process.pid is not None  # started
                send_handle(pipe, fd, process.pid)
            for w in range(len(self.conns)):
                self._recv(w)
            os.close(fd)  # every process has mapped it

        self.t = 0
        self.t_env = 0
        # an episode's return: a number with common_reward, else one per agent
        self.train_returns: list[Union[float, np.ndarray]] = []
        self.test_returns: list[Union[float, np.ndarray]] = []
        self.train_stats: dict[str, Any] = {}
        self.test_stats: dict[str, Any] = {}
        self.log_train_stats_t = -100000
        self.checkpoints: Optional[Checkpointer] = None

    # -- the patched run_sequential's hooks (checkpoint.loop)

    def resume_loop(self, loop: SimpleNamespace, learner: Any, buffer: Any) -> None:
        """Before the training loop: start checkpointing; a resumed run's state back."""
        self.checkpoints = Checkpointer.start(self, loop, learner, buffer)

    def batch_boundary(self, loop: SimpleNamespace, learner: Any, buffer: Any) -> None:
        """At the top of each iteration of the training loop: a checkpoint when due."""
        if self.checkpoints is not None:
            self.checkpoints.boundary(loop, learner, buffer)

    def runner_state(self) -> dict[str, Any]:
        """What the runner carries from one batch to the next: t_env, the stats not yet
        logged, when it last logged, and the envs' random state."""
        return {
            "t_env": self.t_env,
            "train_returns": self.train_returns,
            "test_returns": self.test_returns,
            "train_stats": self.train_stats,
            "test_stats": self.test_stats,
            "log_train_stats_t": self.log_train_stats_t,
            "envs": self._call_all("random_state", [None] * len(self.conns)),
        }

    def set_runner_state(self, saved: dict[str, Any]) -> None:
        self.t_env = saved["t_env"]
        self.train_returns = saved["train_returns"]
        self.test_returns = saved["test_returns"]
        self.train_stats = saved["train_stats"]
        self.test_stats = saved["test_stats"]
        self.log_train_stats_t = saved["log_train_stats_t"]
        self._call_all("set_random_state", saved["envs"])

    def _start_workers(self, env_fns: list[EnvFn], n_workers: int) -> list[Connection]:
        """Start the worker processes (`self.processes`); returns the pipes to them."""
        # contiguous slices, sizes differing by at most one
        bounds = [round(w * self.batch_size / n_workers) for w in range(n_workers + 1)]
        self.slices = [(bounds[w], bounds[w + 1]) for w in range(n_workers)]
        pipes = []
        for first, end in self.slices:
            conn, worker_conn = Pipe()
            process = Process(
                target=worker_main,
                args=(worker_conn, CloudpickleWrapper(env_fns[first:end]), first, os.getpid()),
                daemon=True,
            )
            process.start()
            worker_conn.close()  # so that recv sees EOF if the worker dies
            pipes.append(conn)
            self.processes.append(process)
        return pipes

    def _send(self, w: int, cmd: str, data: Any = None) -> None:
        self.conns[w].send((cmd, data))

    def _recv(self, w: int) -> Any:
        try:
            status, reply = self.conns[w].recv()
        except EOFError:
            raise RuntimeError(
                f"vector runner: env worker {w} (envs {self.slices[w]}) died; see its output above"
            ) from None
        if status == "error":
            raise RuntimeError(
                f"vector runner: env worker {w} (envs {self.slices[w]}) failed:\n{reply}"
            )
        return reply

    def _call(self, w: int, cmd: str, data: Any = None) -> Any:
        self._send(w, cmd, data)
        return self._recv(w)

    def _call_all(self, cmd: str, data: Sequence[Any]) -> list[Any]:
        for w, item in enumerate(data):
            self._send(w, cmd, item)
        return [self._recv(w) for w in range(len(self.conns))]

    def save_replay(self) -> None:
        self._send(0, "save_replay")

    def close_env(self) -> None:
        if self.checkpoints is not None:  # the training loop is over
            self.checkpoints.stop()
        if not self.conns:  # closed already
            return
        try:
            self._call_all("close", [None] * len(self.conns))
        finally:
            for process in self.processes:
                process.join(CLOSE_TIMEOUT)
                if process.is_alive():
                    process.kill()  # it ignores SIGTERM
                    process.join()
            # the shared block is unmapped when the last reference to it goes
            self.conns, self.processes, self.arrays = [], [], None

    def _tensor(self, name: str, rows: Union[slice, list[int]]) -> th.Tensor:
        assert self.arrays is not None, "the envs are closed"
        return th.as_tensor(self.arrays[name][rows], device=self.args.device)

    def reset(self) -> None:
        self.batch = self.new_batch()
        self._call_all("reset", [None] * len(self.conns))
        every = slice(None)
        self.batch.update(
            {
                "state": self._tensor("state", every),
                "avail_actions": self._tensor("avail_actions", every),
                "obs": self._tensor("obs", every),
            },
            ts=0,
        )
        self.t = 0
        self.env_steps_this_run = 0

    def _step(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        """Step the envs `indices` (ascending) in their workers; the info dicts of the
        envs whose episode ended, in env order (the parallel runner's order)."""
        busy = []
        for w, (first, end) in enumerate(self.slices):
            mine = [i for i in indices if first <= i < end]
            if mine:
                self._send(w, "step", mine)
                busy.append(w)
        ended_infos: dict[int, dict[str, Any]] = {}
        for w in busy:
            ended_infos.update(self._recv(w))
        return ended_infos

    def run(self, test_mode: bool = False) -> EpisodeBatch:
        # The parallel runner's loop, statement for statement where it decides what goes
        # into the batch and what the controller is asked for (its random draws depend on
        # `bs`, which includes envs that ended at the previous step, as there).
        self.reset()
        arrays = self.arrays
        assert arrays is not None, "the envs are closed"

        all_terminated = False
        episode_returns: list[Union[float, np.ndarray]]
        if self.args.common_reward:
            episode_returns = [0 for _ in range(self.batch_size)]
        else:
            episode_returns = [np.zeros(self.args.n_agents) for _ in range(self.batch_size)]
        episode_lengths = [0 for _ in range(self.batch_size)]
        self.mac.init_hidden(batch_size=self.batch_size)
        terminated = [False for _ in range(self.batch_size)]
        envs_not_terminated = [b_idx for b_idx, termed in enumerate(terminated) if not termed]
        # filled in order of termination, as in the parallel runner
        final_env_infos: list[dict[str, Any]] = []

        while True:
            with sampling_only():
                actions = self.mac.select_actions(
                    self.batch,
                    t_ep=self.t,
                    t_env=self.t_env,
                    bs=envs_not_terminated,
                    test_mode=test_mode,
                )
            cpu_actions = actions.to("cpu").numpy()
            write_step(self.batch, {"actions": actions}, envs_not_terminated, self.t, False)

            # only envs that have not terminated are stepped
            stepping = [idx for idx in range(self.batch_size) if not terminated[idx]]
            rows = [envs_not_terminated.index(idx) for idx in stepping]
            arrays["actions"][stepping] = cpu_actions[rows]
            ended_infos = self._step(stepping)
            if 0 in envs_not_terminated and test_mode and self.args.render:
                self._send(0, "render")

            envs_not_terminated = [b_idx for b_idx, termed in enumerate(terminated) if not termed]
            all_terminated = all(terminated)
            if all_terminated:
                break

            env_terminated: list[bool] = []
            for idx in stepping:
                reward = arrays["reward"][idx]
                episode_returns[idx] += reward.copy() if reward.ndim else float(reward)
                episode_lengths[idx] += 1
                if not test_mode:
                    self.env_steps_this_run += 1
                terminated[idx] = bool(arrays["terminated"][idx])
                if terminated[idx]:
                    final_env_infos.append(ended_infos[idx])
                # an episode cut by the time limit is not terminated for bootstrapping
                env_terminated.append(
                    terminated[idx] and not ended_infos[idx].get("episode_limit", False)
                )

            write_step(
                self.batch,
                {
                    "reward": th.as_tensor(
                        arrays["reward"][stepping], dtype=th.float32, device=self.args.device
                    ),
                    "terminated": th.as_tensor(
                        env_terminated, dtype=th.uint8, device=self.args.device
                    ),
                },
                envs_not_terminated,
                self.t,
                False,
            )
            self.t += 1
            write_step(
                self.batch,
                {
                    "state": self._tensor("state", stepping),
                    "avail_actions": self._tensor("avail_actions", stepping),
                    "obs": self._tensor("obs", stepping),
                },
                envs_not_terminated,
                self.t,
                True,
            )

        if not test_mode:
            self.t_env += self.env_steps_this_run

        # (the parallel runner also fetches each env's get_stats() here and drops them)
        cur_stats = self.test_stats if test_mode else self.train_stats
        cur_returns = self.test_returns if test_mode else self.train_returns
        log_prefix = "test_" if test_mode else ""
        infos = [cur_stats] + final_env_infos
        cur_stats.update(
            {k: sum(d.get(k, 0) for d in infos) for k in set.union(*[set(d) for d in infos])}
        )
        cur_stats["n_episodes"] = self.batch_size + cur_stats.get("n_episodes", 0)
        cur_stats["ep_length"] = sum(episode_lengths) + cur_stats.get("ep_length", 0)

        cur_returns.extend(episode_returns)

        n_test_runs = max(1, self.args.test_nepisode // self.batch_size) * self.batch_size
        if test_mode and (len(self.test_returns) == n_test_runs):
            self._log(cur_returns, cur_stats, log_prefix)
        elif self.t_env - self.log_train_stats_t >= self.args.runner_log_interval:
            self._log(cur_returns, cur_stats, log_prefix)
            if hasattr(self.mac.action_selector, "epsilon"):
                self.logger.log_stat("epsilon", self.mac.action_selector.epsilon, self.t_env)
            self.log_train_stats_t = self.t_env

        return self.batch
