"""Runners for EPyMARL's `runners.REGISTRY`: `vector` (`runners.vector`), the parallel
runner's episodes from a few worker processes that step slices of the batch's envs
into shared memory (the arrays' layout: `runners.layout`); its RWARE envs stepped all
at once in the training process by the batched, exact RWARE kernel (`batched.rware`,
behind the runner's pipe in `runners.rware`); and the check of its config keys
(`runners.config`)."""
