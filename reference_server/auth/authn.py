"""Authentication: turn a request into an Identity. Bearer tokens first, then the session cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from reference_server.auth.identity import ANONYMOUS, AuthKind, Identity, TokenInfo
from reference_server.auth.scopes import Scope, parse_scopes
from reference_server.storage import Db

SESSION_COOKIE = "_quay_session"


@dataclass
class SessionData:
    """What the signed session cookie carries: the user (if signed in), CSRF token, and login time."""

    user_uuid: str | None = None
    csrf: str | None = None
    login_time: float | None = None

    def dump(self) -> dict[str, Any]:
        return {"u": self.user_uuid, "c": self.csrf, "t": self.login_time}


class Authenticator:
    def __init__(self, key: bytes) -> None:
        session_key = hmac.new(key, b"session-cookie", hashlib.sha256).digest()
        self._serializer = URLSafeSerializer(session_key, salt="quay-session")

    def load_session(self, cookie: str | None) -> SessionData:
        if not cookie:
            return SessionData()
        try:
            data = self._serializer.loads(cookie)
        except BadSignature:
            return SessionData()
        if not isinstance(data, dict):
            return SessionData()
        return SessionData(user_uuid=data.get("u"), csrf=data.get("c"), login_time=data.get("t"))

    def dump_session(self, session: SessionData) -> str:
        return str(self._serializer.dumps(session.dump()))

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def signed_in(user_uuid: str) -> SessionData:
        return SessionData(user_uuid=user_uuid, csrf=secrets.token_urlsafe(32), login_time=time.time())

    def authenticate(self, db: Db, authorization: str | None, session: SessionData) -> tuple[Identity, bool]:
        """(identity, whether a bearer token was presented but not valid).

        An invalid bearer token does not fail the request: Quay carries on as anonymous.
        """
        if authorization:
            kind, _, credential = authorization.partition(" ")
            if kind.lower() == "bearer" and credential.strip():
                found = db.oauth_token_owner(credential.strip())
                if found is not None:
                    grant, user = found
                    scopes = parse_scopes(grant.scope) or frozenset()
                    if user.enabled and not user.robot:
                        expires = grant.expires_at
                        info = TokenInfo(token_id=grant.token_id, application_id=grant.application_id,
                                         application_name=grant.app_name,
                                         expires_at_ms=expires.timestamp() * 1000 if expires else None)
                        return Identity(kind=AuthKind.OAUTH, user=user, scopes=scopes, token=info), False
                return ANONYMOUS, True
        if session.user_uuid:
            signed_in = db.user_by_uuid(session.user_uuid)
            if signed_in is not None and signed_in.enabled and not signed_in.robot and not signed_in.organization:
                return Identity(kind=AuthKind.SESSION, user=signed_in, scopes=frozenset({Scope.DIRECT_LOGIN}),
                                login_time=session.login_time, csrf_token=session.csrf), False
        return Identity(kind=AuthKind.ANONYMOUS, csrf_token=session.csrf), False
