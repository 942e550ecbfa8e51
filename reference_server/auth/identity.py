"""Who is calling: the result of authentication, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from reference_server.auth.scopes import Scope
from reference_server.domain.models import User


class AuthKind(StrEnum):
    ANONYMOUS = "anonymous"
    SESSION = "session"
    OAUTH = "oauth"


@dataclass(frozen=True)
class TokenInfo:
    token_id: int
    application_id: int | None
    application_name: str | None
    # When the token stops working (epoch ms), if ever: answers shared with this caller end there too.
    expires_at_ms: float | None = None


@dataclass(frozen=True)
class Identity:
    kind: AuthKind
    user: User | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    token: TokenInfo | None = None
    # Set for sessions: when the user last proved their password (fresh-login rule).
    login_time: float | None = None
    csrf_token: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user is None


ANONYMOUS = Identity(kind=AuthKind.ANONYMOUS)
