"""Step 2 of the pipeline: evaluate an operation's declared permission against the caller."""

from __future__ import annotations

import time

from reference_server.auth import authz
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.scopes import RepoRole
from reference_server.config import ServerConfig
from reference_server.core.context import Ctx
from reference_server.core.errors import ApiError, Unauthorized
from reference_server.core.operation import (
    Anyone,
    HandlerChecks,
    Operation,
    OrgPermission,
    RepoPermission,
    SignedIn,
    SuperuserPermission,
)
from reference_server.storage import Db


def split_repository(path_value: str) -> tuple[str, str]:
    namespace, _, name = path_value.partition("/")
    return namespace, name


def check_fresh_login(identity: Identity, db: Db, config: ServerConfig) -> None:
    """Session callers must have signed in recently; bearer tokens skip this check, as in Quay."""
    if identity.kind is not AuthKind.SESSION or identity.user is None:
        return
    if not identity.user.has_password:
        return
    if identity.login_time is None or time.time() - identity.login_time > config.fresh_login_timeout_s:
        raise ApiError("fresh_login_required", "Requires fresh login")


def check(ctx: Ctx, op: Operation, path_params: dict[str, str]) -> None:
    perm = op.permission
    if isinstance(perm, Anyone | HandlerChecks):
        return
    if isinstance(perm, SignedIn):
        if authz.effective_user_role(ctx.identity) < perm.role:
            raise Unauthorized()
        return
    if isinstance(perm, SuperuserPermission):
        allowed = ctx.has_full_access() if perm.full_access_only else ctx.is_superuser()
        if not allowed and not (perm.global_readonly and ctx.is_global_readonly()):
            raise Unauthorized()
        return
    if isinstance(perm, RepoPermission):
        namespace_name, name = split_repository(path_params["repository"])
        ctx.namespace = ctx.db.user_by_name(namespace_name)
        repo = ctx.db.repository(namespace_name, name) if ctx.namespace is not None else None
        if repo is not None and repo.state == "MARKED_FOR_DELETION":
            repo = None
        ctx.repo = repo
        if perm.role == RepoRole.READ and repo is not None and repo.is_public:
            return
        if perm.global_readonly and ctx.is_global_readonly():
            return
        if perm.full_access and ctx.has_full_access():
            return
        grants = ctx.db.grants(ctx.user, ctx.namespace, repo)
        if authz.effective_repo_role(ctx.identity, grants) < perm.role:
            raise Unauthorized()
        return
    if isinstance(perm, OrgPermission):
        ctx.namespace = ctx.db.user_by_name(path_params[perm.param])
        if perm.global_readonly and ctx.is_global_readonly():
            return
        if perm.full_access and ctx.has_full_access():
            return
        grants = ctx.db.grants(ctx.user, ctx.namespace, None)
        if authz.effective_team_role(ctx.identity, grants) < perm.role:
            raise Unauthorized()
        return
    raise AssertionError(f"unknown permission {perm!r}")
