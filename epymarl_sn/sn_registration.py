"""Adds the SN critic, its learner and its config check to EPyMARL."""
from .config_checks import CHECKS
from .sn_config import check_sn_config


def register_sn():
    if check_sn_config not in CHECKS:
        CHECKS.append(check_sn_config)
    # EPyMARL's modules are importable only with its src/ on sys.path, as in src/main.py
    try:
        from learners import REGISTRY as learners
        from modules.critics import REGISTRY as critics
    except ModuleNotFoundError as err:
        if err.name not in ("learners", "modules"):
            raise
        return  # called outside EPyMARL (e.g. for the config dir): no registries to fill

    from .sn_critic import SNCentralVCritic
    from .sn_learner import PPOSNLearner

    critics["cv_critic_sn"] = SNCentralVCritic
    learners["ppo_sn_learner"] = PPOSNLearner
