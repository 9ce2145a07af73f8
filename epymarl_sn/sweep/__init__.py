"""Grids of runs: the spec (`spec`), what the store already holds (`resume`), one
attempt of one run (`attempt`), local and Ray pools (`pools`) and the loop (`run`)."""
