"""Adds the SN critic, its learner and its config check to EPyMARL (needs src/ importable)."""
from .config_checks import CHECKS
from .sn_config import check_sn_config


def register_sn():
    # EPyMARL's modules import only once its src/ is on sys.path, i.e. here, not at import
    from learners import REGISTRY as learners
    from modules.critics import REGISTRY as critics

    from .sn_critic import SNCentralVCritic
    from .sn_learner import PPOSNLearner

    critics["cv_critic_sn"] = SNCentralVCritic
    learners["ppo_sn_learner"] = PPOSNLearner
    if check_sn_config not in CHECKS:
        CHECKS.append(check_sn_config)
