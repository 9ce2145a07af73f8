"""Spectrally normalised MAPPO critics, sparse-reward SMAC and run tracking for EPyMARL."""
from .registration import register

__all__ = ["register"]
__version__ = "0.1.0"
