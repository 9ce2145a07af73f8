"""Runners for EPyMARL's `runners.REGISTRY`: `vector` (`runners.vector`), the parallel
runner's episodes from a few worker processes that step slices of the batch's envs
into shared memory, and the check of its config key (`runners.config`)."""
