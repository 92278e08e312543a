"""One writer per output: an OS-level lock (``fcntl.flock``) held for the whole run.

Labelling, scoring and search runs take :class:`RunLock` on their output (a directory, or a file:
then the lock file sits beside it) before they look at what is already there, ``--resume``
included. A second writer is refused at once with :class:`RunLocked`, whose message names the
holder's PID. The kernel releases the lock when its holder dies, even by ``kill -9``, so a stale
lock file never blocks a resume: only a live holder refuses.

Core layer: standard library only (POSIX ``fcntl``).

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with RunLock(d, command="label"):
    ...     try:
    ...         RunLock(d).acquire()
    ...     except RunLocked as e:
    ...         print("refused:", "PID" in str(e))
    refused: True
    >>> with RunLock(d):  # free again once the first run is done
    ...     pass
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType

from prmkit.errors import PrmkitError

#: name of the lock file inside a locked output directory
LOCK_NAME = ".prmkit.lock"


class RunLocked(PrmkitError):
    """Another live process holds the output's lock."""


def lock_path_for(output: str | os.PathLike, is_dir: bool | None = None) -> Path:
    """The lock file of an output: ``DIR/.prmkit.lock`` for a directory, ``FILE.lock`` beside a file.

    ``is_dir=None`` guesses: an existing directory, or a path without a suffix that does not exist.

    Example:
        >>> lock_path_for("runs/scored.jsonl").name, lock_path_for("runs/mc.v2", is_dir=True).name
        ('scored.jsonl.lock', '.prmkit.lock')
    """
    p = Path(output)
    if is_dir is None:
        is_dir = p.is_dir() or (not p.exists() and not p.suffix)
    if is_dir:
        return p / LOCK_NAME
    return p.with_name(p.name + ".lock")


class RunLock:
    """An exclusive, non-blocking ``flock`` on an output's lock file (a context manager).

    The lock file records the holder (``{"pid": ..., "command": ..., "since": ...}``); it is left
    in place on release (deleting it would race with a process opening it), and its content from
    a dead holder is simply overwritten.
    """

    def __init__(
        self, output: str | os.PathLike, command: str = "prmkit", is_dir: bool | None = None
    ) -> None:
        self.output = Path(output)
        self.path = lock_path_for(output, is_dir)
        self.command = command
        self._fd: int | None = None

    def _holder(self, fd: int) -> str:
        # the holder writes its PID right after locking: give it a moment before reading
        for _ in range(50):
            try:
                raw = os.pread(fd, 4096, 0)
                info = json.loads(raw) if raw else None
            except (OSError, ValueError):
                info = None
            if isinstance(info, dict) and "pid" in info:
                return f"PID {info['pid']} ({info.get('command', '?')}, since {info.get('since', '?')})"
            time.sleep(0.01)
        return "PID unknown"

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLocked` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise RunLocked(
                f"another prmkit run ({holder}) is writing to this output; wait for it to finish "
                "or stop it (a killed run's lock is released by the system, then --resume works)",
                file=str(self.output),
            ) from None
        info = {"pid": os.getpid(), "command": self.command, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
