"""Stored runs in front of a user, for the commands only (a training run never imports
this package): file-storage runs copied into MongoDB (`push`), a local
MongoDB-compatible server (`local_server`) and Omniboard on 127.0.0.1 (`omniboard`)."""
