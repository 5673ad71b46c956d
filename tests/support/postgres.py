"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data folder, loopback only.

CI installs Debian's ``postgresql`` package (``.ci/run``); without it the tests that need PostgreSQL fail with a
message saying so, rather than being skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.support.fake_tgi import free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (CI's .ci/run does it)")
    return found[-1].parent


class TempPostgres:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: its folders are private to root, and the server runs as ``postgres``.
        self.base = Path(tempfile.mkdtemp(prefix="chatlens-pg-"))
        self.data = self.base / "pgdata"
        self.port = free_port()
        self.bin = _bin_dir()

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> TempPostgres:
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            shutil.chown(self.base, postgres.pw_uid, postgres.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"), "-w", "start")
        return self

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is disconnected, open transactions are rolled back, and the
        server is back (with the options it was started with) when this returns."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.base / "server.log"), "-w", "restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"chatlens_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
