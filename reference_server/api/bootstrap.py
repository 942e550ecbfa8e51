"""Rotation of the programmatic bootstrap token (discovery tag `bootstrap`, FEATURE_PROGRAMMATIC_BOOTSTRAP).

The bootstrap token is the bearer token `POST /api/v1/user/initialize` mints for the first user (through the
`automation` application whose client id is that user's name). Renewing it mints a replacement with the same
scopes, deletes every other token of that application, and writes the new token where the operator reads it:
`{"access_token": ...}` in the file named by BOOTSTRAP_TOKEN_PATH (Quay's key and default path). The answer
itself carries no token, as in Quay.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from reference_server.auth.identity import AuthKind
from reference_server.core.context import Ctx
from reference_server.core.errors import ApiError, Unauthorized
from reference_server.core.operation import HandlerChecks, Operation
from reference_server.storage.base import now

DEFAULT_BOOTSTRAP_TOKEN_PATH = "/var/lib/quay/quay-machine-token.json"
INVALID_BOOTSTRAP_TOKEN = "Requires valid bootstrap bearer token"


def _bearer(ctx: Ctx) -> str | None:
    kind, _, credential = (ctx.request.headers.get("authorization") or "").partition(" ")
    return (credential.strip() or None) if kind.lower() == "bearer" else None


def _write_token_file(path: Path, token: str) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        os.write(fd, json.dumps({"access_token": token}).encode())
        os.fchmod(fd, 0o600)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    finally:
        if fd != -1:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)


def renew_bootstrap_token(ctx: Ctx) -> Any:
    if _bearer(ctx) is None:
        raise ApiError("invalid_token", INVALID_BOOTSTRAP_TOKEN)
    token_info = ctx.identity.token
    if ctx.identity.kind is not AuthKind.OAUTH or token_info is None or ctx.user is None:
        raise ApiError("invalid_token", INVALID_BOOTSTRAP_TOKEN)
    bootstrap_app = (ctx.db.bootstrap_application(token_info.application_id)
                     if token_info.application_id is not None else None)
    if bootstrap_app is None:
        # A valid token of any other kind is refused like any missing permission.
        raise Unauthorized()
    current = ctx.db.oauth_token_scope(token_info.token_id)
    if current is None:
        raise ApiError("invalid_token", INVALID_BOOTSTRAP_TOKEN)
    scope, expires_at = current
    if expires_at is not None and expires_at <= now():
        raise ApiError("invalid_token", INVALID_BOOTSTRAP_TOKEN)
    app_id, _owner_id = bootstrap_app
    new_token, new_id = ctx.db.create_oauth_token(ctx.user, scope, app_id)
    ctx.db.delete_application_tokens(app_id, keep_token_id=new_id)
    path = Path(str(ctx.config.raw.get("BOOTSTRAP_TOKEN_PATH") or DEFAULT_BOOTSTRAP_TOKEN_PATH))
    try:
        _write_token_file(path, new_token)
    except OSError:
        # Raising rolls the request's transaction back, so the old token keeps working.
        raise ApiError("token_rotation_failed", "Token rotation failed: could not write token") from None
    return {"status": "rotated"}


OPERATIONS = (
    Operation("POST", "/api/v1/bootstrap/renew", "renewBootstrapToken", "bootstrap",
              "Replace the bootstrap bearer token and store the new one in the configured file.",
              renew_bootstrap_token, None, HandlerChecks("only the bootstrap token itself may renew it"),
              csrf_exempt=True, feature="PROGRAMMATIC_BOOTSTRAP"),
)
