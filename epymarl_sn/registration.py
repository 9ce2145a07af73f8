"""What the `epymarl.plugins` entry point runs inside EPyMARL."""
from .config_checks import check_config
from .resources import config_dir
from .sn_registration import register_sn
from .sparse_envs import register_sparse


def register():
    """Add the plugin's components to EPyMARL's registries.

    Called by EPyMARL's patched src/main.py, with EPyMARL's src/ importable, before
    the config is read. Returns the plugin's config directory (algs/, envs/) and the
    check that stops a run with bad plugin config values before it starts, and the
    MongoObserver used when SACRED_MONGO_URL is set.
    """
    # imported here: it loads Sacred, which the `epymarl-sn` commands do not need
    from .mongo_observer import TrackingMongoObserver

    register_sn()
    register_sparse()
    return {"config_dir": str(config_dir()), "check_config": check_config,
            "mongo_observer": TrackingMongoObserver}
