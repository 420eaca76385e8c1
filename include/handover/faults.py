"""Fault points: named places where a test can make the process die with SIGKILL, to prove that a run
killed there and run again ends exactly where a clean run ends — or pause there, so that the test can do
something to the run in the middle (start a second run, end the session from the server).

Inert unless ``HANDOVER_KILL_AT`` or ``HANDOVER_PAUSE_AT`` names the point (set only by the tests, in a
child process). Paused, the process writes ``<HANDOVER_PAUSE_FILE>.reached`` and waits (two minutes at
most) until ``HANDOVER_PAUSE_FILE`` exists.
"""

from __future__ import annotations

import os
import signal

TRANSFER_POINTS = ("extract.after_first_chunk", "stage.during_copy", "settle.before", "load.after_prebuild",
                   "merge.during", "merge.before_commit")  # a transfer passes every one of these
DELIVERY_POINTS = ("deliver.after_send", "deliver.after_send_sms", "deliver.after_send_email",
                   "deliver.after_send_letter", "deliver.after_record")  # the notices' deliverer
UPDATE_POINTS = ("updates.after_batch",)  # a change file's batches (handover.updates)
ARCHIVE_POINTS = ("cold_archive.after_write",)  # the object written and indexed, the hot rows not yet deleted
POINTS = TRANSFER_POINTS + DELIVERY_POINTS + UPDATE_POINTS + ARCHIVE_POINTS
_hits: dict[str, int] = {}


def point(name: str) -> None:
    """``HANDOVER_KILL_AT=name`` kills at the point's first pass; with ``HANDOVER_KILL_AFTER=n``, its n-th
    (the middle of a batch)."""
    if os.environ.get("HANDOVER_KILL_AT") == name:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] >= int(os.environ.get("HANDOVER_KILL_AFTER", "1")):
            os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("HANDOVER_PAUSE_AT") == name:
        _pause(os.environ["HANDOVER_PAUSE_FILE"])


def _pause(release: str) -> None:
    import time

    with open(release + ".reached", "w") as fh:
        fh.write(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)


class KillDuringRead:
    """A file-like wrapper that dies at the fault point once half of the stream has been read."""

    def __init__(self, stream, size: int, name: str) -> None:
        self._stream, self._half, self._name, self._read = stream, size // 2, name, 0

    def read(self, n: int = -1):
        data = self._stream.read(n)
        self._read += len(data)
        if self._read >= self._half:
            point(self._name)
        return data

    def readline(self, n: int = -1):
        return self.read(n)


def wrap(stream, size: int, name: str):
    return KillDuringRead(stream, size, name) if os.environ.get("HANDOVER_KILL_AT") == name else stream
