"""Bearer tokens minted directly for an organization's OAuth application (tag `organization_application_tokens`).

The token itself is shown once, at creation; storage keeps only its keyed hash. A caller can only mint scopes
they could exercise themselves, and a caller using a token only scopes that token already has.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from reference_server.auth.authz import effective_repo_role, effective_team_role, effective_user_role
from reference_server.auth.identity import AuthKind
from reference_server.auth.scopes import RepoRole, Scope, TeamRole, UserRole, parse_scopes
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError, Unauthorized, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    Body,
    Operation,
    path_param,
    query_param,
)
from reference_server.core.render import Reply
from reference_server.domain.models import User
from reference_server.storage.apps import Application, AppToken

CLIENT_ID = path_param("client_id", "The OAuth client id of the application.")
TOKEN_UUID = path_param("token_uuid", "The uuid of the token.")

# Quay's defaults: ten years of validity, 50 tokens per page, at most 1000 live tokens per application.
DEFAULT_EXPIRATION_S = int(60 * 60 * 24 * 365.25 * 10)
PAGE_SIZE = 50
MAX_ACTIVE_TOKENS = 1000
MAX_NAME_LENGTH = 255

NEW_TOKEN = Body("NewApplicationToken", {
    "type": "object",
    "description": "A bearer token to mint for the application; several may share a name.",
    "required": ["name", "scope"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH,
                 "description": "Label for the token; surrounding blanks are dropped."},
        "scope": {"type": "string", "description": "The scopes to grant, separated by spaces or commas."},
        "expiration": {"type": "number", "minimum": 1,
                       "description": "Lifetime in seconds, at most the default of ten years."},
    },
})

_IMPLIED = {Scope.REPO_ADMIN: {Scope.REPO_WRITE, Scope.REPO_READ}, Scope.REPO_WRITE: {Scope.REPO_READ}}


def _iso(value: datetime | None) -> str | None:
    # Quay prints these naive-UTC ISO 8601 timestamps with a `Z` suffix.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def token_view(token: AppToken, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "uuid": token.uuid, "name": token.name, "scope": token.scope, "expires_at": _iso(token.expires_at),
        "created": _iso(token.created), "created_by": token.created_by, "last_accessed": _iso(token.last_accessed),
    }
    if secret is not None:
        view["token"] = secret
    return view


def _application(ctx: Ctx, client_id: str) -> tuple[User, Application]:
    org = ctx.org()
    app = ctx.db.application(org.id, client_id)
    if app is None:
        raise not_found()
    return org, app


def _with_implied(scopes: frozenset[Scope]) -> set[Scope]:
    out = set(scopes)
    for scope in scopes:
        out |= _IMPLIED.get(scope, set())
    return out


def _can_mint(ctx: Ctx, org: User, requested: frozenset[Scope]) -> bool:
    """Whether the caller holds every requested scope: by role, and by their own token's scopes."""
    if ctx.identity.kind is AuthKind.OAUTH and not requested <= _with_implied(ctx.identity.scopes):
        return False
    grants = ctx.db.grants(ctx.user, org, None)
    # Full-access superusers pass every namespace-level check, as in Quay.
    full = ctx.has_full_access()
    repo = effective_repo_role(ctx.identity, grants)
    team = effective_team_role(ctx.identity, grants)
    user = effective_user_role(ctx.identity)
    needed = {
        Scope.REPO_READ: full or repo >= RepoRole.READ,
        Scope.REPO_WRITE: full or repo >= RepoRole.WRITE,
        Scope.REPO_ADMIN: full or repo >= RepoRole.ADMIN,
        Scope.REPO_CREATE: full or team >= TeamRole.CREATOR,
        Scope.USER_READ: user >= UserRole.READ,
        Scope.USER_ADMIN: user >= UserRole.ADMIN,
        Scope.ORG_ADMIN: full or team >= TeamRole.ADMIN,
        Scope.SUPERUSER: ctx.is_superuser(),
    }
    return all(needed.get(scope, False) for scope in requested)


def _page_start(ctx: Ctx) -> int | None:
    """The id to continue below, from an opaque page token; a bad or foreign token restarts at page one."""
    raw = ctx.query.get("next_page")
    if not raw:
        return None
    text = ctx.db.secrets.decrypt(raw)
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    before = value.get("before_id") if isinstance(value, dict) else None
    return before if isinstance(before, int) else None


def list_organization_application_tokens(ctx: Ctx, orgname: str, client_id: str) -> Any:
    _, app = _application(ctx, client_id)
    tokens = ctx.db.app_tokens(app.id, before_id=_page_start(ctx), limit=PAGE_SIZE + 1)
    answer: dict[str, Any] = {"tokens": [token_view(t) for t in tokens[:PAGE_SIZE]]}
    if len(tokens) > PAGE_SIZE:
        answer["next_page"] = ctx.db.secrets.encrypt(json.dumps({"before_id": tokens[PAGE_SIZE - 1].id}))
    return answer


def create_organization_application_token(ctx: Ctx, orgname: str, client_id: str) -> Any:
    org, app = _application(ctx, client_id)
    body: dict[str, Any] = ctx.body
    name = body["name"].strip()
    if not name:
        raise MessageError(400, "'name' cannot be empty")
    scope_text: str = body["scope"]
    normalized = " ".join(dict.fromkeys(scope_text.replace(",", " ").split()))
    requested = parse_scopes(normalized)
    if not requested:
        raise MessageError(400, f"Invalid scope: {scope_text}")
    user = ctx.user
    if user is None or not _can_mint(ctx, org, requested):
        raise Unauthorized()
    expiration = body.get("expiration", DEFAULT_EXPIRATION_S)
    if isinstance(expiration, float) and not math.isfinite(expiration):
        raise MessageError(400, "'expiration' must be a finite number of seconds")
    seconds = min(int(expiration), DEFAULT_EXPIRATION_S)
    if ctx.db.count_active_app_tokens(app.id) >= MAX_ACTIVE_TOKENS:
        raise MessageError(400, f"Token limit reached: maximum {MAX_ACTIVE_TOKENS} non-expired tokens per "
                                "application")
    secret, token_id = ctx.db.create_oauth_token(
        user, normalized, app.id, expires_at=datetime.now(UTC) + timedelta(seconds=seconds), name=name,
        created_by=user)
    record = ctx.db.app_token_by_id(token_id)
    assert record is not None
    ctx.log("create_oauth_api_token", namespace=org, metadata={
        "oauth_token_uuid": record.uuid, "scope": normalized, "token_display_name": name,
        "application_name": app.name, "auth_method": "OAuth", "client_id": app.client_id})
    return token_view(record, secret)


def delete_organization_application_token(ctx: Ctx, orgname: str, client_id: str, token_uuid: str) -> Any:
    org, app = _application(ctx, client_id)
    if not ctx.db.delete_app_token(app.id, token_uuid):
        raise not_found()
    ctx.log("revoke_oauth_api_token", namespace=org, metadata={
        "oauth_token_uuid": token_uuid, "application_name": app.name, "client_id": app.client_id})
    return Reply(status=204)


PATH = "/api/v1/organization/{orgname}/applications/{client_id}/tokens"
TAG = "organization_application_tokens"

OPERATIONS = (
    Operation("GET", PATH, "listOrganizationApplicationTokens", TAG,
              "List the tokens minted for an application, newest first.", list_organization_application_tokens,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO,
              params=(ORGNAME, CLIENT_ID, query_param("next_page", "Opaque token of the page to fetch."))),
    Operation("POST", PATH, "createOrganizationApplicationToken", TAG,
              "Mint a bearer token for an application; the token is shown only in this answer.",
              create_organization_application_token, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, CLIENT_ID),
              body=NEW_TOKEN, order="validate-first"),
    Operation("DELETE", PATH + "/{token_uuid}", "deleteOrganizationApplicationToken", TAG,
              "Revoke one token of an application.", delete_organization_application_token, Scope.ORG_ADMIN,
              ORG_ADMIN, params=(ORGNAME, CLIENT_ID, TOKEN_UUID), success=204),
)
