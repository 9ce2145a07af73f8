"""What the `epymarl.plugins` entry point runs inside EPyMARL."""
from .config_checks import check_config
from .resources import config_dir
from .sn_registration import register_sn


def register():
    """Add the plugin's components to EPyMARL's registries.

    Called by EPyMARL's patched src/main.py, with EPyMARL's src/ importable, before
    the config is read. Returns the plugin's config directory (algs/, envs/) and the
    check that stops a run with bad plugin config values before it starts.
    """
    register_sn()
    return {"config_dir": str(config_dir()), "check_config": check_config}
