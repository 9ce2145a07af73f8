"""RWARE tiny-2ag that, while EPYMARL_SN_TEST_HANG is set to a file path, writes its
process id there and hangs in its constructor: a run that Sacred already records as
RUNNING and that never ends by itself. A run reaches it as the gymma key
`hanging_env:hang-tiny-2ag-v0`, with this directory on PYTHONPATH.

`hanging_env:fail-tiny-2ag-v0` fails when made: a run that Sacred records as RUNNING,
then FAILED with the env's error (the sweep tests' broken variant)."""

import os
import time

import gymnasium
import rware  # noqa: F401  (registers rware-tiny-2ag-v2)
from rware.warehouse import Warehouse


def make(**kwargs):
    marker = os.environ.get("EPYMARL_SN_TEST_HANG")
    if marker:
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)
        while True:
            time.sleep(1)
    return Warehouse(**kwargs)


def fail(**kwargs):
    raise RuntimeError("fail-tiny-2ag-v0 fails on purpose")


gymnasium.register(
    "hang-tiny-2ag-v0", entry_point=make, kwargs=gymnasium.spec("rware-tiny-2ag-v2").kwargs
)
gymnasium.register(
    "fail-tiny-2ag-v0", entry_point=fail, kwargs=gymnasium.spec("rware-tiny-2ag-v2").kwargs
)
