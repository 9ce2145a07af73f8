"""Checks of the plugin's config keys, run by EPyMARL before a run starts.

Each check takes the final config (a dict, `with` overrides applied) and raises
ValueError with one line: what is wrong, what is allowed, how to fix it.
"""
from .sn_config import check_sn_config
from .sparse_checks import check_sparse_config

CHECKS = (check_sn_config, check_sparse_config)


def check_config(config):
    for check in CHECKS:
        check(config)
