"""Checks of the plugin's config keys, run by EPyMARL before a run starts.

Each check takes the final config (a dict, `with` overrides applied) and raises
ValueError with one line: what is wrong, what is allowed, how to fix it. Features
add their check to CHECKS.
"""
CHECKS = []


def check_config(config):
    for check in CHECKS:
        check(config)
