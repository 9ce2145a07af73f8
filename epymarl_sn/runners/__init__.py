"""Runners for EPyMARL's `runners.REGISTRY`: `vector` (`runners.vector`), the parallel
runner's episodes from a few worker processes that step slices of the batch's envs
into shared memory (the arrays' layout: `runners.layout`; what every slice does alike:
`runners.slices`); its RWARE and SMAClite envs stepped all at once in the training
process by the batched backends (`batched.rware`, `batched.smaclite`, behind the
runner's pipe in `runners.rware` and `runners.smaclite`; which one applies, decided once:
`runners.backend`); and the check of its config keys (`runners.config`)."""
