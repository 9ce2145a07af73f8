"""Fixtures of the SN tests: in-process EPyMARL (its src/ importable, the plugin
registered). The args of a preset and random episode batches: helpers.py."""

import sys

import pytest


@pytest.fixture(scope="session")
def epymarl_src(epymarl_dir):
    """EPyMARL's src/ on sys.path (as src/main.py has it) with the SN components registered."""
    src = epymarl_dir / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from epymarl_sn.plugin import register

    register()
    return src
