"""The test suite's own machinery: how a test beside the smoke chain knows its claimant is gone."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys

from notebook_support import _claimant_running

HOLD = """
import fcntl, sys, time
lock = open(sys.argv[1], "w")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)
"""


def test_a_claimant_counts_as_running_while_it_holds_its_lock_and_not_once_dead_even_as_a_zombie(tmp_path):
    lock = tmp_path / "claim-1.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        claim = {"pid": child.pid, "through": "07", "lock": str(lock)}
        assert _claimant_running(claim)
        assert _claimant_running(claim)  # looking does not take the lock away

        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped: a zombie
        os.kill(child.pid, 0)  # which a signal check still takes for a live process
        assert not _claimant_running(claim)
        with open(lock) as handle:  # and looking left no lock of its own behind
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        child.kill()
        child.wait()
    assert not _claimant_running({"pid": 1, "through": "07", "lock": str(tmp_path / "missing.lock")})
    assert not _claimant_running({"pid": 1, "through": "07"})  # a claim from before the lock
