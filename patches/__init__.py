"""The patch for EPyMARL's src/main.py, shipped as package data."""
