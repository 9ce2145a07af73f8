"""Adds the SN critic and its learner to EPyMARL's registries."""


def register_sn():
    # EPyMARL's modules are importable only with its src/ on sys.path, as in src/main.py
    from learners import REGISTRY as learners
    from modules.critics import REGISTRY as critics

    from .sn_critic import SNCentralVCritic
    from .sn_learner import PPOSNLearner

    critics["cv_critic_sn"] = SNCentralVCritic
    learners["ppo_sn_learner"] = PPOSNLearner
