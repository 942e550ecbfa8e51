"""Fixtures for our own unit tests: an in-process reference server on a temporary SQLite database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from starlette.testclient import TestClient

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.storage import Storage
from reference_server.storage.engine import database_url, make_engine

PG_URL = os.environ.get("QH_TEST_PG_URL")


class Server:
    """A reference server in this process, with a helper to make users and their bearer tokens."""

    def __init__(self, tmp_path: Path, config: dict[str, Any] | None = None) -> None:
        cfg = {"SUPER_USERS": ["admin"], **(config or {})}
        self.config = ServerConfig.from_mapping(cfg)
        self.storage = Storage.open(None, tmp_path)
        self.app = create_app(self.config, self.storage)
        self.client = TestClient(self.app, base_url="http://testserver")
        answer = self.client.post("/api/v1/user/initialize", json={
            "username": "admin", "password": "password1", "email": "admin@example.com", "access_token": True})
        assert answer.status_code == 200, answer.text
        self.admin_token = answer.json()["access_token"]
        self.client.cookies.clear()

    def headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def make_user(self, username: str, scopes: str = "repo:read repo:write repo:admin repo:create user:read "
                  "user:admin org:admin super:user") -> str:
        """Create a user straight in storage and return a bearer token with `scopes` for it."""
        with self.storage.transaction() as db:
            user = db.user_by_name(username) or db.create_namespace(
                username, email=f"{username}@example.com", password="password1")
            token, _ = db.create_oauth_token(user, scopes, None)
        return token

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.request(method, path, headers=self.headers(token), **kwargs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    s.storage.close()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    made: list[Server] = []

    def factory(config: dict[str, Any] | None = None) -> Server:
        s = Server(tmp_path / f"s{len(made)}", config)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.storage.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Empty storage on each backend: SQLite always, PostgreSQL when QH_TEST_PG_URL names a database."""
    if request.param == "sqlite":
        s = Storage.open(None, tmp_path)
        yield s
        s.close()
        return
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set QH_TEST_PG_URL (CI does)")
    # Each test gets its own schema: pytest-xdist workers share the database, and concurrent CREATE TABLE in
    # one schema collide on the catalog's unique type names.
    name = f"qh_{uuid.uuid4().hex[:16]}"
    base = make_url(database_url(PG_URL, tmp_path))
    admin = make_engine(base.render_as_string(hide_password=False))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    scoped = base.update_query_dict({"options": f"-csearch_path={name}"})
    s = Storage(make_engine(scoped.render_as_string(hide_password=False)))
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
