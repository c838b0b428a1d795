"""Open a database from a path or URL, migrate it to the current schema, and run units of work safely.

SQLite (the default, one file) is opened with WAL, foreign keys and a busy timeout; write transactions start
with `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing half way, and one process
lock keeps a single writer per process. PostgreSQL (``postgresql+psycopg://user:secret@host/skelwatch``, as
`--db` or `storage.url`) gets the same guarantees by its own means: every write transaction first takes one
transaction-scoped advisory lock, so writers on every machine queue as SQLite's do, `lock_timeout` plays the
busy timeout (DatabaseLockedError), and pooled connections are pinged before use, so a server that restarted
is reconnected to without reopening.

The schema is versioned by Alembic (`storage/migrations`); opening runs `upgrade head` inside one transaction.
A database stamped by a revision this code does not know (a newer skelwatch) is refused, never recreated.
"""
from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import DatabaseLockedError, DatabaseUnavailableError, SchemaError, StorageError
from storage.files import create_private_file, make_private_dir

# alembic loads when a database is opened (the GUI opens it on a worker), not with every module that names one:
# the window's first paint waits for the imports of what it shows.
if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_MAGIC = b"SQLite format 3\x00"
# The PostgreSQL writers' lock ("skelwatc" as a bigint): one key for every skelwatch on the server's database.
WRITER_LOCK_KEY = 0x736B656C77617463
# SQLSTATEs that mean "another writer held a lock too long" and "the server is gone or going away".
PG_LOCKED = {"55P03", "40P01"}
PG_GONE_PREFIXES = ("08", "57P")


def to_url(path_or_url: str | Path) -> str:
    """A filesystem path becomes a SQLite URL; anything with `://` is taken as a SQLAlchemy URL."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _check_sqlite_file(path: Path) -> None:
    """Refuse what is not a SQLite database; create a missing one owner-only (0600 in a 0700 folder).

    An existing empty file is refused too: it is someone's file (a typo in --db, a placeholder), not a gallery,
    and SQLite would silently turn it into one. The -wal and -shm files SQLite adds copy the database's mode.
    """
    try:
        if not path.exists():
            make_private_dir(path.parent)
            if create_private_file(path):
                return
        if path.is_dir():
            raise StorageError(f"database path {path} is a folder; pass a file path such as {path / 'skelwatch.db'}")
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StorageError(f"database file {path} cannot be opened ({exc.strerror}); pass a writable file path "
                           "(at most 255 bytes per name)") from None
    if not head:
        raise StorageError(f"{path} is an empty file, not a skelwatch gallery; pass the right file, or delete "
                           "this one to start a new gallery there")
    if head != SQLITE_MAGIC:
        raise StorageError(f"{path} is not a SQLite database (the file starts with {head[:8]!r}); "
                           "pass the right file, or move this one away to start a new database")


def shown_url(url: str) -> str:
    """The URL as messages and logs show it: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL has no password part to find
        return url


def _describe(exc: BaseException, url: str) -> StorageError:
    """Turn a driver error into a message naming the database, the problem and the fix."""
    url = shown_url(url)
    orig = getattr(exc, "orig", exc)
    text = str(orig or exc).lower()
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate in PG_LOCKED:
        return DatabaseLockedError(
            f"database {url} is locked by another skelwatch (or another client) for longer than the lock timeout "
            f"({sqlstate}); nothing was changed: wait and retry, or raise storage.busy_timeout_s")
    if sqlstate.startswith(PG_GONE_PREFIXES) or getattr(exc, "connection_invalidated", False) or (
            url.startswith("postgresql") and "connection" in text and not sqlstate):
        reason = text.strip().splitlines()[0] if text.strip() else sqlstate
        return DatabaseUnavailableError(
            f"database server of {url} cannot be reached ({reason}); nothing stored was lost and an unfinished "
            "change was not saved: start the server or check storage.url and the network, then retry (the "
            "connection is re-made on the next use)")
    if sqlstate == "53100":
        return StorageError(f"database {url}: the server's disk is full, so the change was not saved (nothing "
                            "stored was lost); free space on the server, or prune with `./skelwatch gallery "
                            "retention`")
    if not url.startswith("sqlite"):  # the checks below read SQLite's own messages
        return StorageError(f"database {url}: {orig}")
    if "locked" in text or "busy" in text:
        return DatabaseLockedError(
            f"database {url} is locked by another process for longer than the busy timeout; close the other "
            "skelwatch (or wait) and retry, or raise storage.busy_timeout_s")
    if "disk is full" in text or "disk full" in text or "no space" in text:
        return StorageError(f"database {url}: the disk is full, so the change was not saved (nothing stored was "
                            "lost); free space, or run `./skelwatch gallery retention` to prune old sessions")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StorageError(f"database {url} is corrupt or not a database ({exc.__class__.__name__}: {text}); "
                            "restore it from a backup or move it away to start a new one")
    return StorageError(f"database {url}: {getattr(exc, 'orig', exc)}")


class Database:
    """An engine and its sessions. Use `write()` for one unit of work that changes data, `read()` for queries.

    Args:
        path_or_url: a SQLite file path, or any SQLAlchemy URL.
        busy_timeout_s: how long a writer waits for another process's write lock before DatabaseLockedError.
        migrate: upgrade the schema to the newest revision (the default; off only for tests of old schemas).
    Raises:
        StorageError: corrupt file, unreachable server; SchemaError: a newer or foreign schema.
    """

    def __init__(self, path_or_url: str | Path, *, busy_timeout_s: float = 5.0, migrate: bool = True) -> None:
        self.url = to_url(path_or_url)
        url = make_url(self.url)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.busy_timeout_s = float(busy_timeout_s)
        if self.is_sqlite and url.database not in (None, "", ":memory:"):
            _check_sqlite_file(Path(url.database))
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": self.busy_timeout_s, "check_same_thread": False}
        elif url.get_backend_name() == "postgresql":
            # libpq's own options, so every pooled connection has them without a SET that a rollback would undo
            kwargs["connect_args"] = {"options": f"-c lock_timeout={int(self.busy_timeout_s * 1000)}",
                                      "connect_timeout": max(2, int(math.ceil(self.busy_timeout_s)))}
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except ImportError as exc:
            raise StorageError(f"database URL {shown_url(self.url)} needs the driver "
                               f"{getattr(exc, 'name', None) or exc}, which is not installed; install it (PostgreSQL: "
                               "pip install 'psycopg[binary]') or set storage.url to a SQLite file path") from None
        if self.is_sqlite:
            self._install_sqlite_listeners()
        elif url.get_backend_name() == "postgresql":
            self._install_postgres_listeners()
        self._write_engine = self.engine.execution_options(skelwatch_immediate=True)
        # Readers see one snapshot, as a SQLite WAL read does (a gallery rebuild counts, then reads, the rows). Not
        # writers: their snapshot would predate the writer lock they wait for, so they stay READ COMMITTED.
        read_engine = (self.engine if self.is_sqlite
                       else self.engine.execution_options(isolation_level="REPEATABLE READ"))
        self._reader = sessionmaker(read_engine, expire_on_commit=False)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock = threading.RLock()
        try:
            self._check_schema(upgrade=migrate)
        except BaseException:
            self.engine.dispose()
            raise

    def _install_sqlite_listeners(self) -> None:
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (transactional DDL, BEGIN IMMEDIATE)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("skelwatch_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    def _install_postgres_listeners(self) -> None:
        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            # BEGIN IMMEDIATE's counterpart: one writer at a time across processes and machines, so checks such as
            # "is this name free" and the gallery revision bump stay true until commit. Rejected: SERIALIZABLE
            # (every unit of work would need a retry loop) and a row lock on gallery_state (sightings and the
            # name checks that run before the bump would still race).
            if conn.get_execution_options().get("skelwatch_immediate", False):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")

    def _check_schema(self, *, upgrade: bool) -> None:
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = _alembic_config()
        script = ScriptDirectory.from_config(cfg)
        known = {rev.revision for rev in script.walk_revisions()}
        try:
            with self._write_lock, self._write_engine.begin() as conn:
                current = MigrationContext.configure(conn).get_current_heads()
                unknown = [rev for rev in current if rev not in known]
                if unknown:
                    raise SchemaError(
                        f"database {shown_url(self.url)} has schema revision {', '.join(unknown)}, which this "
                        f"skelwatch does not know (it knows up to {script.get_current_head()}): it was written by a "
                        "newer skelwatch. Upgrade skelwatch, or open another database file")
                if not current:
                    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}  # empty: downgraded to base
                    if tables:
                        raise SchemaError(
                            f"database {shown_url(self.url)} holds tables ({', '.join(sorted(tables)[:5])}) but no "
                            "skelwatch schema version: it is not a skelwatch database; pass another file or URL")
                if upgrade and set(current) != {script.get_current_head()}:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    logger.info("database %s migrated from %s to %s", shown_url(self.url), current or "empty",
                                script.get_current_head())
        except StorageError:
            raise
        except (DBAPIError, sqlite3.DatabaseError) as exc:
            raise _describe(exc, self.url) from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back everything on any error.

        Raises:
            DatabaseLockedError: another process held the lock past the busy timeout.
            StorageError: disk full, corrupt database, other driver errors (all with nothing changed).
        """
        with self._write_lock:
            try:
                with self._writer.begin() as session:
                    yield session
            except OperationalError as exc:
                raise _describe(exc, self.url) from None
            except IntegrityError as exc:
                raise StorageError(f"database {shown_url(self.url)}: the change conflicts with stored data "
                                   f"({exc.orig}); nothing was changed") from None
            except DBAPIError as exc:
                raise _describe(exc, self.url) from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session on one consistent snapshot (SQLite WAL, PostgreSQL REPEATABLE READ); never blocks
        the writer."""
        try:
            with self._reader.begin() as session:
                yield session
        except (OperationalError, DBAPIError) as exc:
            raise _describe(exc, self.url) from None

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return heads[0] if heads else None

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({shown_url(self.url)!r})"


def open_database(path_or_url: str | Path, *, busy_timeout_s: float = 5.0) -> Database:
    """Open (creating and migrating if needed) the database at a path or URL."""
    try:
        return Database(path_or_url, busy_timeout_s=busy_timeout_s)
    except SQLAlchemyError as exc:
        raise _describe(exc, to_url(path_or_url)) from None
