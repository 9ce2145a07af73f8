"""Spectrally normalised MAPPO critics, sparse-reward SMAC and run tracking for EPyMARL.

EPyMARL loads it through the `epymarl.plugins` entry point: see `epymarl_sn.plugin`."""

__version__ = "0.1.0"
