"""Storage queries for OAuth applications, OAuth tokens and app-specific tokens (a mixin of Db)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from reference_server.auth.secrets import new_client_secret, new_oauth_token
from reference_server.domain.models import User
from reference_server.storage import schema as t
from reference_server.storage.base import BaseQueries, inserted_id, new_uuid, now


class AppQueries(BaseQueries):
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
