"""The storage interface: `Storage` owns the engine; `Db` is the query surface over one connection
(one transaction per request, so a failed request leaves nothing half-written)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select

from reference_server.auth.secrets import Secrets
from reference_server.storage import schema as t
from reference_server.storage.apps import AppQueries
from reference_server.storage.base import BaseQueries
from reference_server.storage.cache import ReadCache
from reference_server.storage.engine import create_schema, database_url, make_engine
from reference_server.storage.orgs import OrgQueries
from reference_server.storage.repos import RepoQueries
from reference_server.storage.robots import RobotQueries
from reference_server.storage.teams import TeamQueries
from reference_server.storage.users import UserQueries


class Db(UserQueries, OrgQueries, TeamQueries, RepoQueries, RobotQueries, AppQueries, BaseQueries):
    def __init__(self, conn: Connection, secrets: Secrets, cache: ReadCache | None = None) -> None:
        self.conn = conn
        self.secrets = secrets
        self.cache = cache

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name


class Storage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read_cache = ReadCache()
        create_schema(engine)
        self.secrets = self._load_secrets()

    @classmethod
    def open(cls, db_url: str | None, data_dir: Path) -> Storage:
        return cls(make_engine(database_url(db_url, data_dir)))

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def _load_secrets(self) -> Secrets:
        with self.engine.begin() as conn:
            rows = dict(conn.execute(select(t.instance_secret.c.name, t.instance_secret.c.value)).all())
            if "hmac" not in rows:
                hmac_key, fernet_key = Secrets.generate_keys()
                conn.execute(insert(t.instance_secret), [{"name": "hmac", "value": hmac_key},
                                                         {"name": "fernet", "value": fernet_key}])
                rows = {"hmac": hmac_key, "fernet": fernet_key}
        self.session_key = bytes.fromhex(rows["hmac"])
        return Secrets(bytes.fromhex(rows["hmac"]), rows["fernet"].encode())

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[Db]:
        """Commit when the block succeeds, roll back when it raises. A read-only request may use the read
        cache; any other one empties it when it ends, whatever happened."""
        try:
            with self.engine.begin() as conn:
                yield Db(conn, self.secrets, self.read_cache if read_only else None)
        finally:
            if not read_only:
                self.read_cache.bump()

    @contextmanager
    def read(self) -> Iterator[Db]:
        with self.engine.connect() as conn:
            yield Db(conn, self.secrets)
            conn.rollback()

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["BaseQueries", "Db", "Storage"]
