"""The storage interface: `Storage` owns the engine; `Db` is the query surface over one connection
(one transaction per request, so a failed request leaves nothing half-written)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reference_server.auth.secrets import Secrets
from reference_server.storage import schema as t
from reference_server.storage.apps import AppQueries
from reference_server.storage.base import BaseQueries
from reference_server.storage.cache import ReadCache
from reference_server.storage.engine import create_schema, database_url, make_engine
from reference_server.storage.logs import LogQueries
from reference_server.storage.orgs import OrgQueries
from reference_server.storage.policies import PolicyQueries
from reference_server.storage.registry import RegistryQueries
from reference_server.storage.repos import RepoQueries
from reference_server.storage.robots import RobotQueries
from reference_server.storage.teams import TeamQueries
from reference_server.storage.users import UserQueries


class Db(UserQueries, OrgQueries, TeamQueries, RepoQueries, RobotQueries, AppQueries, RegistryQueries,
         LogQueries, PolicyQueries, BaseQueries):
    """All queries over one connection. For read-only requests the connection is opened on first use, so a
    request answered entirely from the read cache never touches the database."""

    def __init__(self, conn: Connection | None, secrets: Secrets, cache: ReadCache | None = None,
                 engine: Engine | None = None) -> None:
        self._conn = conn
        self._engine = engine
        self.secrets = secrets
        self.cache = cache
        self.cache_generation = cache.generation if cache is not None else None

    @property
    def conn(self) -> Connection:  # type: ignore[override]
        if self._conn is None:
            assert self._engine is not None
            self._conn = self._engine.connect()
        return self._conn

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def _finish(self, ok: bool) -> None:
        """End a lazily opened connection: keep what a read-only request wrote (e.g. audit entries)."""
        if self._engine is None or self._conn is None:
            return
        try:
            if ok:
                self._conn.commit()
            else:
                self._conn.rollback()
        finally:
            self._conn.close()
            self._conn = None


class Storage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Where registry blobs live; `open` puts it under the data directory (for PostgreSQL too).
        self.blob_dir: Path | None = None
        self.read_cache = ReadCache()
        create_schema(engine)
        self.secrets = self._load_secrets()

    @classmethod
    def open(cls, db_url: str | None, data_dir: Path) -> Storage:
        storage = cls(make_engine(database_url(db_url, data_dir)))
        storage.blob_dir = data_dir / "blobs"
        return storage

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def _load_secrets(self) -> Secrets:
        # Each key is made only when the database has none yet.
        hmac_key = self.instance_secret("hmac", lambda: Secrets.generate_keys()[0])
        fernet_key = self.instance_secret("fernet", lambda: Secrets.generate_keys()[1])
        self.session_key = bytes.fromhex(hmac_key)
        return Secrets(bytes.fromhex(hmac_key), fernet_key.encode())

    def instance_secret(self, name: str, make: Callable[[], str]) -> str:
        """The named instance secret, made by `make` and stored on first use. Servers starting together on one
        new database (the benchmarks start two) agree on the first value stored instead of failing on the
        unique name: the insert skips an existing row, and every server reads back the stored one."""
        query = select(t.instance_secret.c.value).where(t.instance_secret.c.name == name)
        with self.engine.begin() as conn:
            value: str | None = conn.execute(query).scalar()
        if value is None:
            candidate = make()
            insert_new = (pg_insert if self.backend == "postgresql" else sqlite_insert)(t.instance_secret)
            with self.engine.begin() as conn:
                conn.execute(insert_new.values(name=name, value=candidate).on_conflict_do_nothing())
            with self.engine.begin() as conn:
                value = conn.execute(query).scalar()
            assert value is not None
        return value

    @contextmanager
    def transaction(self, read_only: bool = False, *, keep_cache: bool = False) -> Iterator[Db]:
        """Commit when the block succeeds, roll back when it raises. A read-only request may use the read
        cache; any other one empties it when it ends, whatever happened, unless the caller promises with
        `keep_cache` that it changes nothing read requests cache (background bookkeeping) or bumps it itself."""
        if read_only:
            db = Db(None, self.secrets, self.read_cache, engine=self.engine)
            ok = False
            try:
                yield db
                ok = True
            finally:
                db._finish(ok)
            return
        try:
            with self.engine.begin() as conn:
                yield Db(conn, self.secrets)
        finally:
            if not keep_cache:
                self.read_cache.bump()

    @contextmanager
    def read(self) -> Iterator[Db]:
        with self.engine.connect() as conn:
            yield Db(conn, self.secrets)
            conn.rollback()

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["BaseQueries", "Db", "Storage"]
