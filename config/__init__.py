"""The plugin's EPyMARL config presets (algs/, envs/), shipped as package data."""
