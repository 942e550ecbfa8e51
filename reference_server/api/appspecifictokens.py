"""App-specific tokens: registry passwords a user mints for tools (discovery tag `appspecifictokens`)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from reference_server.auth.scopes import Scope, UserRole
from reference_server.config import duration_seconds
from reference_server.core.context import Ctx
from reference_server.core.errors import not_found
from reference_server.core.operation import Body, Operation, SignedIn, path_param, query_param
from reference_server.core.render import format_date
from reference_server.storage.base import now
from reference_server.storage.users import UserAppToken

FEATURE = "APP_SPECIFIC_TOKENS"
# Without a configured lifetime, "expiring soon" is measured against this one.
DEFAULT_EXPIRATION_WINDOW = "4w"


def token_view(ctx: Ctx, token: UserAppToken, include_code: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "uuid": token.uuid, "title": token.title, "last_accessed": format_date(token.last_accessed),
        "created": format_date(token.created), "expiration": format_date(token.expiration),
    }
    if include_code:
        view["token_code"] = ctx.db.user_app_token_code(token)
    return view


def list_app_tokens(ctx: Ctx) -> Any:
    user = ctx.require_user()
    expiring = ctx.query["expiring"]
    if expiring:
        lifetime = ctx.config.app_specific_token_expiration_s or duration_seconds(DEFAULT_EXPIRATION_WINDOW)
        # "Soon" is the last tenth of a token's lifetime (at least one second).
        soon = timedelta(seconds=math.ceil(lifetime * 0.1) or 1)
        tokens = ctx.db.user_app_tokens(user.id, expiring_before=now() + soon)
    else:
        tokens = ctx.db.user_app_tokens(user.id)
    # `only_expiring` echoes the parsed parameter, so it is null when the parameter is absent.
    return {"tokens": [token_view(ctx, t, include_code=False) for t in tokens], "only_expiring": expiring}


# Quay names this schema NewToken too, and its discovery document then shows the repository-token schema
# (friendlyName) under that name for this operation; ours needs a distinct name to describe the real body.
NEW_TOKEN = Body("NewAppSpecificToken", {
    "type": "object",
    "description": "A new app-specific token.",
    "required": ["title"],
    "properties": {"title": {"type": "string", "description": "A label that says what the token is for."}},
})


def create_app_token(ctx: Ctx) -> Any:
    user = ctx.require_user()
    lifetime = ctx.config.app_specific_token_expiration_s
    expiration = now() + timedelta(seconds=lifetime) if lifetime else None
    token, _code = ctx.db.create_user_app_token(user, ctx.body["title"], expiration)
    ctx.log("create_app_specific_token", namespace=user,
            metadata={"app_specific_token_title": token.title, "app_specific_token": token.uuid})
    return {"token": token_view(ctx, token, include_code=True)}


def _own_token(ctx: Ctx, token_uuid: str) -> UserAppToken:
    # Only the owner's tokens are visible; anyone else's uuid is simply not found.
    token = ctx.db.user_app_token(ctx.require_user().id, token_uuid)
    if token is None:
        raise not_found()
    return token


def get_app_token(ctx: Ctx, token_uuid: str) -> Any:
    return {"token": token_view(ctx, _own_token(ctx, token_uuid), include_code=True)}


def revoke_app_token(ctx: Ctx, token_uuid: str) -> Any:
    token = _own_token(ctx, token_uuid)
    ctx.db.delete_user_app_token(token.id)
    ctx.log("revoke_app_specific_token", namespace=ctx.require_user(),
            metadata={"app_specific_token_title": token.title, "app_specific_token": token.uuid})
    return None


USER_ADMIN = SignedIn(UserRole.ADMIN)
TOKEN_UUID = path_param("token_uuid", "The token's uuid.")

OPERATIONS = (
    Operation("GET", "/api/v1/user/apptoken", "listAppTokens", "appspecifictokens",
              "List the signed-in user's app-specific tokens, without their codes.", list_app_tokens,
              Scope.USER_ADMIN, USER_ADMIN, feature=FEATURE,
              params=(query_param("expiring", "Only list tokens that expire soon.", "boolean"),)),
    Operation("POST", "/api/v1/user/apptoken", "createAppToken", "appspecifictokens",
              "Create an app-specific token and show its code.", create_app_token, Scope.USER_ADMIN, USER_ADMIN,
              body=NEW_TOKEN, feature=FEATURE, fresh_login=True),
    Operation("GET", "/api/v1/user/apptoken/{token_uuid}", "getAppToken", "appspecifictokens",
              "Show one of the user's app-specific tokens, with its code.", get_app_token, Scope.USER_ADMIN,
              USER_ADMIN, params=(TOKEN_UUID,), feature=FEATURE, fresh_login=True),
    Operation("DELETE", "/api/v1/user/apptoken/{token_uuid}", "revokeAppToken", "appspecifictokens",
              "Revoke one of the user's app-specific tokens.", revoke_app_token, Scope.USER_ADMIN, USER_ADMIN,
              params=(TOKEN_UUID,), success=204, feature=FEATURE, fresh_login=True),
)
