"""The watchdog of one attempt, started by `attempt.execute` next to its run:

    python -m epymarl_sn.sweep.guard PGID CHECKOUT COMMENT

It detaches at once (a second fork), because Ray kills the direct children of a
worker that dies, and then waits on its stdin. `execute` writes a line there when
it has ended the run itself. End of input with nothing written means the process
that started the run is gone (its Ray node's raylet was killed, the sweep was
killed, ...): the guard then kills the run's process group, whose env workers would
otherwise live on blocked on their pipes, and marks the run's stored runs
INTERRUPTED with the reason. Its output goes to the run's log.
"""

import os
import signal
import sys

REASON = (
    "stopped: the epymarl-sn sweep process that ran it died "
    "(its Ray node was lost, or the sweep was killed)"
)


def main(pgid: int, checkout: str, comment: str) -> None:
    if os.fork():
        os._exit(0)  # the parent returns at once to execute, which waits for it
    if sys.stdin.buffer.read():
        return  # execute ended the run itself
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # imported only now: detaching (the fork above) is what is urgent
    from epymarl_sn.sweep.attempt import settle

    print(f"epymarl-sn sweep: {REASON}; its process group was killed", flush=True)
    for note in settle(checkout, os.environ, comment, "INTERRUPTED", REASON):
        print(note, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
