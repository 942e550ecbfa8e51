"""Storage queries for OAuth applications, OAuth tokens and app-specific tokens (a mixin of Db)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from reference_server.auth.secrets import new_client_id, new_client_secret, new_oauth_token
from reference_server.domain.models import User
from reference_server.storage import schema as t
from reference_server.storage.base import BaseQueries, aware, inserted_id, new_uuid, now


@dataclass(frozen=True)
class Application:
    """An organization's OAuth application; the client secret is decrypted only on demand."""

    id: int
    org_id: int
    client_id: str
    client_secret_enc: str
    name: str
    description: str
    redirect_uri: str
    application_uri: str
    avatar_email: str | None


@dataclass(frozen=True)
class AppToken:
    """An OAuth access token as the organization application tokens API lists it (never the secret)."""

    id: int
    uuid: str
    name: str | None
    scope: str
    created: datetime | None
    expires_at: datetime | None
    last_accessed: datetime | None
    created_by: str | None


def _app_from_row(row: Any) -> Application:
    m = row._mapping
    return Application(
        id=m["id"], org_id=m["org_id"], client_id=m["client_id"], client_secret_enc=m["client_secret_enc"],
        name=m["name"], description=m["description"] or "", redirect_uri=m["redirect_uri"] or "",
        application_uri=m["application_uri"] or "", avatar_email=m["avatar_email"],
    )


class AppQueries(BaseQueries):
    # ---- tokens ---------------------------------------------------------------------------------------

    def create_oauth_token(self, user: User, scope: str, application_id: int | None, *,
                           expires_at: datetime | None = None, name: str | None = None,
                           created_by: User | None = None) -> tuple[str, int]:
        """Mint a bearer token; returns (token, row id). Only the keyed hash is stored."""
        token = new_oauth_token()
        result = self.conn.execute(insert(t.oauth_token).values(
            uuid=new_uuid(), token_hash=self.secrets.token_hash(token), application_id=application_id,
            user_id=user.id, scope=scope, created=now(), expires_at=expires_at, name=name,
            created_by_id=created_by.id if created_by else None,
        ))
        return token, inserted_id(result)

    def create_initial_token(self, user: User, scope: str) -> str:
        app_id = self.conn.execute(select(t.oauth_application.c.id).where(
            t.oauth_application.c.client_id == user.username)).scalar()
        if app_id is None:
            app_id = inserted_id(self.conn.execute(insert(t.oauth_application).values(
                org_id=user.id, client_id=user.username,
                client_secret_enc=self.secrets.encrypt(new_client_secret()),
                name="automation", description="", redirect_uri="", application_uri="",
            )))
        token, _ = self.create_oauth_token(user, scope, int(app_id))
        return token

    # ---- applications ---------------------------------------------------------------------------------

    def applications(self, org_id: int) -> list[Application]:
        rows = self.conn.execute(select(t.oauth_application).where(
            t.oauth_application.c.org_id == org_id).order_by(t.oauth_application.c.id)).all()
        return [_app_from_row(r) for r in rows]

    def application(self, org_id: int, client_id: str) -> Application | None:
        row = self.conn.execute(select(t.oauth_application).where(
            t.oauth_application.c.org_id == org_id, t.oauth_application.c.client_id == client_id)).first()
        return _app_from_row(row) if row else None

    def application_by_client_id(self, client_id: str) -> Application | None:
        row = self.conn.execute(select(t.oauth_application).where(
            t.oauth_application.c.client_id == client_id)).first()
        return _app_from_row(row) if row else None

    def create_application(self, org_id: int, *, name: str, application_uri: str, redirect_uri: str,
                           description: str, avatar_email: str | None) -> Application:
        client_id = new_client_id()
        while self.application_by_client_id(client_id) is not None:
            client_id = new_client_id()
        self.conn.execute(insert(t.oauth_application).values(
            org_id=org_id, client_id=client_id, client_secret_enc=self.secrets.encrypt(new_client_secret()),
            name=name, description=description, redirect_uri=redirect_uri, application_uri=application_uri,
            avatar_email=avatar_email,
        ))
        created = self.application_by_client_id(client_id)
        assert created is not None
        return created

    def update_application(self, app_id: int, **values: Any) -> Application:
        self.conn.execute(update(t.oauth_application).where(t.oauth_application.c.id == app_id).values(**values))
        row = self.conn.execute(select(t.oauth_application).where(t.oauth_application.c.id == app_id)).first()
        assert row is not None
        return _app_from_row(row)

    def reset_client_secret(self, app_id: int) -> Application:
        return self.update_application(app_id, client_secret_enc=self.secrets.encrypt(new_client_secret()))

    def delete_application(self, app_id: int) -> None:
        # Tokens and assignments of the application go with it (foreign keys cascade).
        self.conn.execute(delete(t.oauth_application).where(t.oauth_application.c.id == app_id))

    # ---- tokens of an application ---------------------------------------------------------------------

    def count_active_app_tokens(self, app_id: int) -> int:
        tok = t.oauth_token
        return int(self.conn.execute(select(func.count()).select_from(tok).where(
            tok.c.application_id == app_id,
            (tok.c.expires_at.is_(None)) | (tok.c.expires_at > now()))).scalar_one())

    def app_tokens(self, app_id: int, *, before_id: int | None, limit: int) -> list[AppToken]:
        """Tokens of one application, newest first, starting below `before_id` (for paging)."""
        tok = t.oauth_token
        query = (select(tok.c.id, tok.c.uuid, tok.c.name, tok.c.scope, tok.c.created, tok.c.expires_at,
                        tok.c.last_accessed, t.user.c.username)
                 .select_from(tok.outerjoin(t.user, t.user.c.id == tok.c.user_id))
                 .where(tok.c.application_id == app_id).order_by(tok.c.id.desc()).limit(limit))
        if before_id is not None:
            query = query.where(tok.c.id < before_id)
        return [AppToken(id=r[0], uuid=r[1], name=r[2], scope=r[3], created=aware(r[4]), expires_at=aware(r[5]),
                         last_accessed=aware(r[6]), created_by=r[7])
                for r in self.conn.execute(query).all()]

    def app_token_by_id(self, token_id: int) -> AppToken | None:
        tok = t.oauth_token
        row = self.conn.execute(
            select(tok.c.id, tok.c.uuid, tok.c.name, tok.c.scope, tok.c.created, tok.c.expires_at,
                   tok.c.last_accessed, t.user.c.username)
            .select_from(tok.outerjoin(t.user, t.user.c.id == tok.c.user_id)).where(tok.c.id == token_id)).first()
        if row is None:
            return None
        return AppToken(id=row[0], uuid=row[1], name=row[2], scope=row[3], created=aware(row[4]),
                        expires_at=aware(row[5]), last_accessed=aware(row[6]), created_by=row[7])

    def delete_app_token(self, app_id: int, token_uuid: str) -> bool:
        result = self.conn.execute(delete(t.oauth_token).where(
            t.oauth_token.c.application_id == app_id, t.oauth_token.c.uuid == token_uuid))
        return bool(result.rowcount)

    def granted_scope_strings(self, app_id: int, user_id: int) -> list[str]:
        """Scopes of the user's unexpired tokens for one application (what they already granted it)."""
        tok = t.oauth_token
        rows = self.conn.execute(select(tok.c.scope).where(
            tok.c.application_id == app_id, tok.c.user_id == user_id,
            (tok.c.expires_at.is_(None)) | (tok.c.expires_at > now()))).all()
        return [r[0] for r in rows]
