"""`ppo_sn_learner`: EPyMARL's PPO learner, faster, that also logs the critic's diagnostics.

`train` computes what PPOLearner.train computes, with the same operations on the same
values in the same order, so every parameter, optimiser state and logged stat equals
ppo_learner's bit for bit (tests/sn/test_fast_learner.py runs both in lockstep). It
skips only work whose result it already has:

- the old policy's forward: PPOLearner runs old_mac over the batch with a graph it never
  uses; old_mac holds the parameters mac has when train() starts (it is loaded from mac
  at the end of every train), so the first epoch's policy is the old one. Where the two
  differ (EPyMARL's load_models loads mac only) old_mac runs, without a graph.
- the n-step returns: one vectorised pass over all start times that adds the same terms
  in the same order as PPOLearner's loop; once per train() where the target critic is a
  pure function of its weights (no SN power iteration, no return standardisation),
  since the target critic changes only after the epochs.
- the agents' inputs and action masks: built once per batch, not once per time step.

With `fused_gru: True` the actor's GRU runs over the whole sequence as one nn.GRU that
shares the GRUCell's weights: a faster update whose gradients differ slightly from
ppo_learner's (docs/benchmarks_learner.md gives the difference).
"""

from typing import Any, Optional

import torch as th
import torch.nn.functional as F
from components.episode_buffer import EpisodeBatch
from controllers.basic_controller import BasicMAC
from learners.ppo_learner import PPOLearner
from modules.critics.centralV import CentralVCritic

from epymarl_sn.sn.config import fused_gru
from epymarl_sn.sn.critic import SNCentralVCritic
from epymarl_sn.sn.diagnostics import clipped_weights_grad_norm, critic_diagnostics


class PPOSNLearner(PPOLearner):
    # set by PPOLearner.__init__ (untyped there)
    log_stats_t: int
    last_target_update_step: int

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any) -> None:
        super().__init__(mac, scheme, logger, args)
        self.fused_gru = fused_gru(vars(args))
        self._gru: Optional[th.nn.GRU] = None

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> None:
        # PPOLearner.train, statement by statement, except where the module docstring says
        logs_now = t_env - self.log_stats_t >= self.args.learner_log_interval
        rewards = batch["reward"][:, :-1]
        actions = batch["actions"][:, :]
        terminated = batch["terminated"][:, :-1].float()
        mask = batch["filled"][:, :-1].float()
        mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
        actions = actions[:, :-1]

        if self.args.standardise_rewards:
            self.rew_ms.update(rewards)
            rewards = (rewards - self.rew_ms.mean) / th.sqrt(self.rew_ms.var)

        if self.args.common_reward:
            assert rewards.size(2) == 1, "Expected singular agent dimension for common rewards"
            rewards = rewards.expand(-1, -1, self.n_agents)

        mask = mask.repeat(1, 1, self.n_agents)
        critic_mask = mask.clone()

        inputs = self._sequence_inputs(batch)
        old_log_pi_taken = None
        if not _same_state(self.old_mac, self.mac):
            with th.no_grad():
                old_pi = self._policy(self.old_mac, batch, inputs, fused=False)
            old_pi[mask == 0] = 1.0
            old_pi_taken = th.gather(old_pi, dim=3, index=actions).squeeze(3)
            old_log_pi_taken = th.log(old_pi_taken + 1e-10)

        target_returns = None
        for k in range(self.args.epochs):
            pi = self._policy(self.mac, batch, inputs, fused=self.fused_gru)
            if target_returns is None or not self._fixed_targets():
                target_returns = self._target_returns(batch, rewards, critic_mask)
            last = k == self.args.epochs - 1
            advantages, critic_train_stats = self._train_critic(
                batch, target_returns, critic_mask, stats=last and logs_now
            )
            advantages = advantages.detach()

            pi[mask == 0] = 1.0

            pi_taken = th.gather(pi, dim=3, index=actions).squeeze(3)
            log_pi_taken = th.log(pi_taken + 1e-10)
            if old_log_pi_taken is None:
                # epoch 0 with the parameters old_mac holds: the old policy itself
                old_log_pi_taken = log_pi_taken.detach()

            ratios = th.exp(log_pi_taken - old_log_pi_taken.detach())
            surr1 = ratios * advantages
            surr2 = th.clamp(ratios, 1 - self.args.eps_clip, 1 + self.args.eps_clip) * advantages

            entropy = -th.sum(pi * th.log(pi + 1e-10), dim=-1)
            pg_loss = (
                -((th.min(surr1, surr2) + self.args.entropy_coef * entropy) * mask).sum()
                / mask.sum()
            )

            self.agent_optimiser.zero_grad()
            pg_loss.backward()
            grad_norm = th.nn.utils.clip_grad_norm_(self.agent_params, self.args.grad_norm_clip)
            self.agent_optimiser.step()

        self.old_mac.load_state(self.mac)

        self.critic_training_steps += 1
        if (
            self.args.target_update_interval_or_tau > 1
            and (self.critic_training_steps - self.last_target_update_step)
            / self.args.target_update_interval_or_tau
            >= 1.0
        ):
            self._update_targets_hard()
            self.last_target_update_step = self.critic_training_steps
        elif self.args.target_update_interval_or_tau <= 1.0:
            self._update_targets_soft(self.args.target_update_interval_or_tau)

        if logs_now:
            for key, value in critic_train_stats.items():
                self.logger.log_stat(key, value, t_env)
            self.logger.log_stat(
                "advantage_mean", (advantages * mask).sum().item() / mask.sum().item(), t_env
            )
            self.logger.log_stat("pg_loss", pg_loss.item(), t_env)
            self.logger.log_stat("agent_grad_norm", grad_norm.item(), t_env)
            self.logger.log_stat(
                "pi_max", (pi.max(dim=-1)[0] * mask).sum().item() / mask.sum().item(), t_env
            )
            self.log_stats_t = t_env
            for key, value in critic_diagnostics(self.critic).items():
                self.logger.log_stat(key, value, t_env)
            # the critic's gradients are still those of its last (clipped) update, as
            # when the authors logged this norm
            self.logger.log_stat(
                "critic_grad_norm_clipped_weights", clipped_weights_grad_norm(self.critic), t_env
            )

    def _sequence_inputs(self, batch: EpisodeBatch) -> Optional["_SequenceInputs"]:
        """The batch's agent inputs, where mac is BasicMAC (another controller may build
        its inputs its own way: its own forward runs)."""
        return _SequenceInputs(self.mac, batch) if type(self.mac) is BasicMAC else None

    def _fixed_targets(self) -> bool:
        """Whether the target critic's returns stay the same over train()'s epochs: it
        changes only after them, unless its forward moves state (SN's power iteration)
        or the returns' running statistics move."""
        plain = type(self.target_critic) in (CentralVCritic, SNCentralVCritic)
        stateless = next(self.target_critic.buffers(), None) is None
        return plain and stateless and not self.args.standardise_returns

    def _target_returns(
        self, batch: EpisodeBatch, rewards: th.Tensor, mask: th.Tensor
    ) -> th.Tensor:
        # the first half of PPOLearner.train_critic_sequential
        with th.no_grad():
            target_vals = self.target_critic(batch)
            target_vals = target_vals.squeeze(3)
        if self.args.standardise_returns:
            target_vals = target_vals * th.sqrt(self.ret_ms.var) + self.ret_ms.mean
        target_returns = self.nstep_returns(rewards, mask, target_vals, self.args.q_nstep)
        if self.args.standardise_returns:
            self.ret_ms.update(target_returns)
            target_returns = (target_returns - self.ret_ms.mean) / th.sqrt(self.ret_ms.var)
        return target_returns

    def _train_critic(
        self, batch: EpisodeBatch, target_returns: th.Tensor, mask: th.Tensor, stats: bool
    ) -> tuple[th.Tensor, dict[str, float]]:
        """The second half of PPOLearner.train_critic_sequential; the stats it would log
        only when `stats` (they are read from the last epoch alone)."""
        v = self.critic(batch)[:, :-1].squeeze(3)
        td_error = target_returns.detach() - v
        masked_td_error = td_error * mask
        loss = (masked_td_error**2).sum() / mask.sum()

        self.critic_optimiser.zero_grad()
        loss.backward()
        grad_norm = th.nn.utils.clip_grad_norm_(self.critic_params, self.args.grad_norm_clip)
        self.critic_optimiser.step()

        if not stats:
            return masked_td_error, {}
        mask_elems = mask.sum().item()
        running_log = {
            "critic_loss": [loss.item()],
            "critic_grad_norm": [grad_norm.item()],
            "td_error_abs": [masked_td_error.abs().sum().item() / mask_elems],
            "q_taken_mean": [(v * mask).sum().item() / mask_elems],
            "target_mean": [(target_returns * mask).sum().item() / mask_elems],
        }
        # PPOLearner logs each as the mean of its list (one value: the last epoch's)
        return masked_td_error, {key: sum(log) / len(log) for key, log in running_log.items()}

    def nstep_returns(
        self, rewards: th.Tensor, mask: th.Tensor, values: th.Tensor, nsteps: int
    ) -> th.Tensor:
        """PPOLearner.nstep_returns for all start times at once: each start time's return
        gets the same terms, computed the same way, added in the same order (step 0, 1,
        ..., nsteps), so the sums are equal bit for bit."""
        steps = rewards.size(1)
        gamma = self.args.gamma
        returns = th.zeros_like(values[:, :-1])
        for step in range(nsteps + 1):
            starts = steps - step  # the start times whose step `step` is in the batch
            if starts <= 0:
                break
            if step == nsteps:
                returns[:, :starts] += gamma ** (step) * values[:, step:steps] * mask[:, step:steps]
                continue
            returns[:, :starts] += gamma ** (step) * rewards[:, step:steps] * mask[:, step:steps]
            if self.args.add_value_last_step:
                # the start time whose step `step` is the batch's last: bootstrapped there
                returns[:, starts - 1] += gamma ** (step + 1) * values[:, steps]
        return returns

    def _policy(
        self, mac: Any, batch: EpisodeBatch, inputs: Optional["_SequenceInputs"], fused: bool
    ) -> th.Tensor:
        """mac's action probabilities at every step but the last, as PPOLearner stacks
        them from mac.forward(batch, t) (batch, time, agent, action)."""
        steps = batch.max_seq_length - 1
        if inputs is None:
            mac.init_hidden(batch.batch_size)
            return th.stack([mac.forward(batch, t=t) for t in range(steps)], dim=1)
        if fused:
            return self._fused_policy(mac, batch, inputs)
        mac.init_hidden(batch.batch_size)
        hidden = mac.hidden_states
        outs = []
        for t in range(steps):
            # a fresh copy as BasicMAC._build_inputs makes one: the same memory layout
            agent_outs, hidden = mac.agent(inputs.agent_inputs[t].clone(), hidden)
            outs.append(inputs.policy(mac, agent_outs, t).view(batch.batch_size, mac.n_agents, -1))
        mac.hidden_states = hidden
        return th.stack(outs, dim=1)

    def _fused_policy(self, mac: Any, batch: EpisodeBatch, inputs: "_SequenceInputs") -> th.Tensor:
        """_policy with RNNAgent's layers applied to the whole sequence at once."""
        agent = mac.agent
        if self._gru is None:
            # on the meta device: no memory, and no random draws for weights never used
            gru = th.nn.GRU(agent.rnn.input_size, agent.rnn.hidden_size, device="meta")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                setattr(gru, f"{name}_l0", getattr(agent.rnn, name))
            self._gru = gru
        x = F.relu(agent.fc1(inputs.agent_inputs))
        h0 = agent.init_hidden().expand(x.size(1), -1).unsqueeze(0).contiguous()
        h, _ = self._gru(x, h0)
        pi = inputs.policy(mac, agent.fc2(h), None)
        steps, rows, n_actions = pi.shape
        pi = pi.view(steps, batch.batch_size, mac.n_agents, n_actions)
        return pi.transpose(0, 1).contiguous()


class _SequenceInputs:
    """BasicMAC's agent inputs and action masks for every step of a batch, built once:
    agent_inputs[t] has BasicMAC._build_inputs(batch, t)'s values (rows batch x agent)."""

    def __init__(self, mac: Any, batch: EpisodeBatch) -> None:
        steps = batch.max_seq_length - 1
        bs, n_agents = batch.batch_size, mac.n_agents
        parts = [batch["obs"][:, :steps]]
        if mac.args.obs_last_action:
            onehot = batch["actions_onehot"]
            parts.append(th.cat([th.zeros_like(onehot[:, :1]), onehot[:, : steps - 1]], dim=1))
        if mac.args.obs_agent_id:
            eye = th.eye(n_agents, device=batch.device)
            parts.append(eye.expand(bs, steps, n_agents, n_agents))
        rows = bs * n_agents
        self.agent_inputs = th.cat(parts, dim=-1).transpose(0, 1).reshape(steps, rows, -1)
        avail = batch["avail_actions"][:, :steps].transpose(0, 1).reshape(steps, rows, -1)
        self.unavailable = avail == 0

    def policy(self, mac: Any, agent_outs: th.Tensor, t: Optional[int]) -> th.Tensor:
        """BasicMAC.forward's output layer at step t (or all steps when t is None)."""
        if mac.agent_output_type != "pi_logits":
            return agent_outs
        if getattr(mac.args, "mask_before_softmax", True):
            unavailable = self.unavailable if t is None else self.unavailable[t]
            agent_outs = agent_outs.masked_fill(unavailable, -1e10)
        return F.softmax(agent_outs, dim=-1)


def _same_state(a: Any, b: Any) -> bool:
    """Whether two controllers' agents hold equal parameters and buffers."""
    if not (hasattr(a, "agent") and hasattr(b, "agent")):
        return False
    mine, theirs = a.agent.state_dict(), b.agent.state_dict()
    return mine.keys() == theirs.keys() and all(th.equal(mine[k], theirs[k]) for k in mine)
