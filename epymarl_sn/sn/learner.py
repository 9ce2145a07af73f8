"""`ppo_sn_learner`: EPyMARL's PPO learner that also logs the critic's diagnostics."""

from components.episode_buffer import EpisodeBatch
from learners.ppo_learner import PPOLearner

from epymarl_sn.sn.diagnostics import clipped_weights_grad_norm, critic_diagnostics


class PPOSNLearner(PPOLearner):
    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int) -> None:
        # the same test PPOLearner.train uses to log its stats (critic_grad_norm, ...)
        logs_now = t_env - self.log_stats_t >= self.args.learner_log_interval
        super().train(batch, t_env, episode_num)
        if logs_now:
            for key, value in critic_diagnostics(self.critic).items():
                self.logger.log_stat(key, value, t_env)
            # the critic's gradients are still those of its last (clipped) update, as
            # when the authors logged this norm
            self.logger.log_stat(
                "critic_grad_norm_clipped_weights", clipped_weights_grad_norm(self.critic), t_env
            )
