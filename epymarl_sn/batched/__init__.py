"""Batched simulators: every env of a batch as rows of arrays, stepped by numba kernels,
with the simulator's own dynamics bit for bit. `rware`: rware 2.0.0's Warehouse. They
know nothing of runners; `runners.rware` puts one behind the vector runner's pipe."""
