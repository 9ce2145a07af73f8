"""What the `epymarl.plugins` entry point runs inside EPyMARL."""
from .resources import config_dir


def register():
    """Add the plugin's components to EPyMARL's registries.

    Called by EPyMARL's patched src/main.py, with EPyMARL's src/ importable, before
    the config is read. Returns the plugin's config directory (algs/, envs/).
    """
    return str(config_dir())
