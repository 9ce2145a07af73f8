"""The plugin's errors: each is reported as one line (what is wrong, what is allowed,
how to fix it), never as a traceback. The `epymarl-sn` command maps them to exit
codes in one place (`epymarl_sn.cli.main`), through `exit_code`."""


class EpymarlSnError(Exception):
    """Base of every error the plugin reports as a message."""

    exit_code = 1


class UsageError(EpymarlSnError):
    """Bad input to a command: a flag, a filter, a file or store that is not there."""

    exit_code = 2


class ConfigError(EpymarlSnError, ValueError):
    """A bad config value of a run, found before training starts. A ValueError too:
    the patched EPyMARL main.py reports the ValueErrors of a plugin's check_config."""

    exit_code = 2


class SetupError(EpymarlSnError):
    """A set-up step failed (fetch, build, install, checkout)."""


class SpecError(UsageError):
    """A sweep spec that cannot be run."""


class StoreError(UsageError):
    """A run store (file storage or MongoDB) that cannot be read."""


class DamagedRunError(StoreError):
    """A run of file storage whose files cannot be read (cut short, empty, not JSON):
    readers skip it with a warning rather than stop."""


class PoolError(UsageError):
    """A pool of workers (local or Ray) that cannot start."""


class PlotError(UsageError):
    """Runs or a request that cannot make a figure."""


class BoardError(EpymarlSnError):
    """Omniboard or the local MongoDB server behind it cannot be started."""


class CheckpointError(EpymarlSnError):
    """A checkpoint that cannot be written, read or resumed from (damaged, of another
    config, of a run that cannot go on)."""
