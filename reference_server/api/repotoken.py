"""Repository access tokens (discovery tag `repotoken`): retired by Quay, so every call that passes the
permission check (and, for writes, the body check) is answered 410 Gone."""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.operation import (
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Body,
    Operation,
    path_param,
)

NO_LONGER_SUPPORTED = "Handling of access tokens is no longer supported"
CREATION_NO_LONGER_SUPPORTED = "Creation of access tokens is no longer supported"


def list_repo_tokens(ctx: Ctx, repository: str) -> Any:
    return {"message": NO_LONGER_SUPPORTED}


def create_token(ctx: Ctx, repository: str) -> Any:
    return {"message": CREATION_NO_LONGER_SUPPORTED}


def get_tokens(ctx: Ctx, repository: str, code: str) -> Any:
    return {"message": NO_LONGER_SUPPORTED}


def change_token(ctx: Ctx, repository: str, code: str) -> Any:
    return {"message": NO_LONGER_SUPPORTED}


def delete_token(ctx: Ctx, repository: str, code: str) -> Any:
    return {"message": NO_LONGER_SUPPORTED}


# Quay names this schema NewToken too, like the app-specific token one; a discovery document holds one
# definition per name, so ours gets a name of its own.
NEW_TOKEN = Body("NewRepoToken", {
    "type": "object", "description": "A repository token to create (no longer possible).",
    "required": ["friendlyName"],
    "properties": {"friendlyName": {"type": "string", "description": "A label to recognise the token by."}},
})
TOKEN_PERMISSION = Body("TokenPermission", {
    "type": "object", "description": "The role a repository token should carry (no longer possible).",
    "required": ["role"],
    "properties": {"role": {"type": "string", "enum": ["read", "write", "admin"],
                            "description": "The access level for the token."}},
})

CODE = path_param("code", "The token's code.")
_LIST = "/api/v1/repository/{repository}/tokens/"
_ONE = "/api/v1/repository/{repository}/tokens/{code}"

OPERATIONS = (
    Operation("GET", _LIST, "listRepoTokens", "repotoken", "Retired: list a repository's access tokens.",
              list_repo_tokens, Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY,), success=410),
    Operation("POST", _LIST, "createToken", "repotoken", "Retired: create a repository access token.",
              create_token, Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY,), body=NEW_TOKEN, success=410),
    Operation("GET", _ONE, "getTokens", "repotoken", "Retired: show one repository access token.",
              get_tokens, Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY, CODE), success=410),
    Operation("PUT", _ONE, "changeToken", "repotoken", "Retired: change a repository access token's role.",
              change_token, Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, CODE), body=TOKEN_PERMISSION,
              success=410),
    Operation("DELETE", _ONE, "deleteToken", "repotoken", "Retired: delete a repository access token.",
              delete_token, Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, CODE), success=410),
)
