"""A resumed run's stored metrics: exactly the points its checkpoint had logged.

Points logged after the checkpoint and before the stop are dropped (the resumed run
logs them again), and points logged before it that never reached the store (a run
killed between two of Sacred's heartbeats) are added from the checkpoint. A point the
store has keeps its stored value and timestamp.
"""

from typing import Any

Points = dict[str, list[Any]]  # steps, values (and timestamps where stored)


def metrics_at_checkpoint(
    stored: dict[str, Points], saved: dict[str, Points], stamp: Any
) -> dict[str, Points]:
    """The stored metrics cut back to the checkpoint's points (`saved`); a point added
    from the checkpoint gets the timestamp `stamp`."""
    out: dict[str, Points] = {}
    for name, points in saved.items():
        old = stored.get(name, {"steps": [], "values": [], "timestamps": []})
        kept: Points = {"steps": [], "values": [], "timestamps": []}
        for i, (step, value) in enumerate(zip(points["steps"], points["values"])):
            have = i < len(old["steps"]) and old["steps"][i] == step
            kept["steps"].append(step)
            kept["values"].append(old["values"][i] if have else value)
            kept["timestamps"].append(old["timestamps"][i] if have else stamp)
        out[name] = kept
    return out
