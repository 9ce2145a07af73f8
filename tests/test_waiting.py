"""Deadlines, retries and stopping a process, with real clocks and real processes."""

import subprocess
import sys
import time

import pytest

from epymarl_sn.waiting import Deadline, retry, stop_process, wait_until


def test_a_deadline_passes_after_its_seconds_and_none_never():
    deadline = Deadline(0.2)
    assert not deadline.passed()
    time.sleep(0.3)
    assert deadline.passed()
    assert not Deadline(None).passed()


def test_wait_until_calls_again_until_ready():
    calls = []
    assert wait_until(lambda: calls.append(1) or len(calls) == 3, Deadline(10), every_s=0.01)
    assert len(calls) == 3


def test_wait_until_gives_up_at_the_deadline_or_when_told():
    started = time.monotonic()
    assert not wait_until(lambda: False, Deadline(0.3), every_s=0.05)
    assert 0.3 <= time.monotonic() - started < 3
    calls = []
    assert not wait_until(
        lambda: calls.append(1) is not None, Deadline(None), every_s=0.01, give_up=lambda: True
    )
    assert len(calls) == 1


def test_retry_returns_the_first_result_without_one_of_the_errors():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return "done"

    assert retry(flaky, Deadline(10), every_s=0.01, errors=(ConnectionError,)) == "done"
    assert len(calls) == 3


def test_retry_raises_the_last_error_once_the_deadline_has_passed():
    calls = []

    def down():
        calls.append(1)
        raise ConnectionError(f"attempt {len(calls)}")

    with pytest.raises(ConnectionError) as err:
        retry(down, Deadline(0.2), every_s=0.05, errors=(ConnectionError,))
    assert str(err.value) == f"attempt {len(calls)}" and len(calls) > 1
    # other errors are not retried
    with pytest.raises(KeyError):
        retry(lambda: {}["x"], Deadline(10), every_s=0.01, errors=(ConnectionError,))


def start(code):
    """A Python process that prints `ready` once its signal handlers are set."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def test_stop_process_ends_a_process_with_sigterm():
    proc = start("import time; print('ready', flush=True); time.sleep(60)")
    started = time.monotonic()
    stop_process(proc, grace_s=30)
    assert proc.returncode == -15 and time.monotonic() - started < 10


def test_stop_process_kills_a_process_that_ignores_sigterm_after_the_grace():
    proc = start(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    started = time.monotonic()
    stop_process(proc, grace_s=0.5)
    assert proc.returncode == -9 and 0.5 <= time.monotonic() - started < 10
    stop_process(proc, grace_s=0.5)  # already gone: nothing to do
