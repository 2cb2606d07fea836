"""Which worker processes of this host are alive, as the SQLite ledger needs to know.

A write call's claim names the process that holds it (``holder``). Each process that claims
keeps an exclusive ``flock`` on a file of its own, ``<ledger>.holders/<holder>.lock``, for as long
as it lives; the kernel drops the lock the moment the process ends, however it ends (a crash,
SIGKILL, the OOM killer). So when a retry finds a claim whose lease has not run out yet, it can
ask whether the holder is *known* to be gone: its file is there and nobody holds its lock. Only
then is the claim taken over before its lease expires; a holder that is alive, stuck, or not
known to this host (a file that is missing, another kernel) is waited out as before. ``flock``
works across processes and PID namespaces on one kernel, which is what a SQLite ledger already
requires (its WAL shares memory between the processes that open it). Where there is no
``flock`` (Windows) or the directory cannot be written, claims name no holder and wait for
their lease, as they always did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = ["HolderLock"]

_log = logging.getLogger(__name__)
_SWEEP_AFTER_S = 24 * 3600


class HolderLock:
    """This process's lock file in ``directory``, taken on first use and held until ``close``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.token = uuid.uuid4().hex[:16]
        self._fd: int | None = None
        self._unavailable = sys.platform == "win32"  # or the directory could not be written

    def hold(self) -> str | None:
        """Take this process's lock (once) and return its token; None where it cannot be had."""
        if self._unavailable or sys.platform == "win32":
            return None
        if self._fd is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._path(self.token), os.O_CREAT | os.O_RDWR, 0o600)
            except OSError as exc:  # said once: every later claim of this process is the same
                _log.warning("ledger claims will wait for their lease after a crash: %s", exc)
                self._unavailable = True
                return None
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh token: nobody else has it
            self._fd = fd
            self._sweep()
        return self.token

    def gone(self, token: str | None) -> bool:
        """True only if the process holding ``token`` is known to have ended."""
        if sys.platform == "win32" or not token or token == self.token:
            return False
        try:
            fd = os.open(self._path(token), os.O_RDWR)
        except (FileNotFoundError, ValueError):
            return False  # unknown here: wait for the lease
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its process still holds it
        else:
            # Ours now, and nobody can take it again: the file has done its work.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(token))
            return True
        finally:
            os.close(fd)

    def _sweep(self) -> None:
        """Remove the files of processes that ended long ago (a crash leaves its file behind;
        any claim they held has long run out of lease)."""
        cutoff = time.time() - _SWEEP_AFTER_S
        for path in self.directory.glob("*.lock"):
            with contextlib.suppress(OSError, ValueError):
                if path.stat().st_mtime < cutoff:
                    self.gone(path.stem)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(self.token))
            os.close(self._fd)
            self._fd = None

    def _path(self, token: str) -> Path:
        if not token.isalnum():  # a token read from the database names a file: only plain ones
            raise ValueError(f"not a holder token: {token!r}")
        return self.directory / f"{token}.lock"
