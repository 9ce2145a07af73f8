"""A run's checkpoint: everything its future depends on, written at a batch boundary,
and the exact resume of a stopped run from it, in the same Sacred run."""
