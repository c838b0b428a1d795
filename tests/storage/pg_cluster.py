"""A throw-away PostgreSQL server for the tests: `initdb` and `pg_ctl` in a temporary folder, unix socket only.

No TCP port is opened, so several test runs on one machine never collide. The server refuses to run as root, so
under root (CI) the cluster belongs to Debian's `postgres` user (or `nobody`). Durability is switched off
(fsync, synchronous commit): the cluster lives for one pytest session and is deleted after it.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import psycopg
from sqlalchemy.engine import make_url

USER = "skelwatch"
SETTINGS = """
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 16MB
timezone = 'UTC'
"""


def find_bindir() -> Path:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)))  # type: ignore[union-attr]
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("the PostgreSQL server (initdb, pg_ctl) is not installed: run `bash scripts/setup.sh`, "
                       "which installs Debian's postgresql package, or `apt-get install postgresql`")


def _run_as() -> Optional[str]:
    """Who runs the server: ourselves, or when we are root (PostgreSQL refuses root) postgres or nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


class PgCluster:
    """One server in a temporary folder; `create_database()` gives each test a fresh, empty database."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="skelwatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._names = itertools.count()
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._pg(["initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C",
                  "--no-sync"])
        with (self.data / "postgresql.conf").open("a") as fh:
            fh.write(SETTINGS.format(socket_dir=self.root))
        self.start()

    def _pg(self, argv: list[str]) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        done = subprocess.run(cmd, user=self.user, cwd=self.root, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def start(self) -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop"])

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{USER}@/{dbname}?host={self.root}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=str(self.root), user=USER, dbname=dbname, autocommit=True)

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
