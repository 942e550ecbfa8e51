"""The superuser panel's quota and registry-size operations (discovery tag `superuser`).

Each quota operation exists twice in Quay, under /superuser/users/{namespace}/quota and
/superuser/organization/{namespace}/quota, with one handler behind both: either path accepts a user or an
organization. Unlike /organization/{org}/quota, a plain superuser may write here (full access is not
needed), and reads also admit the global read-only superuser. Quay checks the superuser inside the handler,
after validating the body, hence `validate-first`; deleting needs no fresh login there.
"""

from __future__ import annotations

from typing import Any

from reference_server.api.namespacequota import (
    FEATURES,
    NEW_QUOTA_SCHEMA,
    QUOTA_ID,
    UPDATE_QUOTA_SCHEMA,
    change_quota,
    checked_limit_bytes,
    create_quota,
    delete_quota,
    namespace_quota_by_id,
    quota_view,
    requested_limit_bytes,
)
from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import invalid_request, not_found
from reference_server.core.operation import Body, Operation, SuperuserPermission, path_param
from reference_server.core.render import Reply
from reference_server.domain.models import User
from reference_server.storage.registry import now_ms

NAMESPACE = path_param("namespace", "The user or organization whose quota is managed.")
NEW_NAMESPACE_QUOTA = Body("NewNamespaceQuota", NEW_QUOTA_SCHEMA)
UPDATE_NAMESPACE_QUOTA = Body("UpdateNamespaceQuota", UPDATE_QUOTA_SCHEMA)
BAD_FORMAT = "Invalid limit format"


def _namespace(ctx: Ctx, name: str) -> User:
    """A user or organization (never a robot). Quay fails with a server error on an unknown name when
    writing; answering 404 says the same thing without the crash."""
    found = ctx.db.user_by_name(name)
    if found is None or found.robot:
        raise not_found()
    return found


# ---- one implementation behind the two paths ---------------------------------------------------------


def _list(ctx: Ctx, namespace: str) -> Any:
    # No system default here: only a quota the namespace really has is listed.
    quota = ctx.db.namespace_quota(_namespace(ctx, namespace).id)
    return [quota_view(ctx, quota)] if quota is not None else []


def _create(ctx: Ctx, namespace: str) -> Any:
    requested = requested_limit_bytes(ctx.body, BAD_FORMAT)
    owner = _namespace(ctx, namespace)
    if ctx.db.namespace_quota(owner.id) is not None:
        raise invalid_request(f"Quota for '{namespace}' already exists")
    assert requested is not None  # the schema requires one of the two keys
    create_quota(ctx, owner, checked_limit_bytes(requested))
    return "Created"


def _change(ctx: Ctx, namespace: str, quota_id: str) -> Any:
    owner = _namespace(ctx, namespace)
    quota = namespace_quota_by_id(ctx, owner, quota_id)
    requested = requested_limit_bytes(ctx.body or {}, BAD_FORMAT)
    return quota_view(ctx, change_quota(ctx, owner, quota, requested))


def _delete(ctx: Ctx, namespace: str, quota_id: str) -> Any:
    owner = _namespace(ctx, namespace)
    delete_quota(ctx, owner, namespace_quota_by_id(ctx, owner, quota_id))
    return Reply(status=204)


def list_user_quota_super_user(ctx: Ctx, namespace: str) -> Any:
    return _list(ctx, namespace)


def list_organization_quota_super_user(ctx: Ctx, namespace: str) -> Any:
    return _list(ctx, namespace)


def create_user_quota_super_user(ctx: Ctx, namespace: str) -> Any:
    return _create(ctx, namespace)


def create_organization_quota_super_user(ctx: Ctx, namespace: str) -> Any:
    return _create(ctx, namespace)


def change_user_quota_super_user(ctx: Ctx, quota_id: str, namespace: str) -> Any:
    return _change(ctx, namespace, quota_id)


def change_organization_quota_super_user(ctx: Ctx, quota_id: str, namespace: str) -> Any:
    return _change(ctx, namespace, quota_id)


def delete_user_quota_super_user(ctx: Ctx, quota_id: str, namespace: str) -> Any:
    return _delete(ctx, namespace, quota_id)


def delete_organization_quota_super_user(ctx: Ctx, quota_id: str, namespace: str) -> Any:
    return _delete(ctx, namespace, quota_id)


# ---- registry size ---------------------------------------------------------------------------------------


def get_registry_size(ctx: Ctx) -> Any:
    record = ctx.db.registry_size()
    if record is None:
        return {"size_bytes": 0, "last_ran": None, "running": False, "queued": False}
    return {"size_bytes": record.size_bytes, "last_ran": record.completed_ms, "queued": record.queued,
            "running": record.running}


def queue_registry_size_calculation(ctx: Ctx) -> Any:
    """Quay queues the calculation for a worker and answers 202 while one is still pending. Here the sum is
    computed at once (every distinct stored blob counted once), so a calculation is never left pending and
    each call answers 201."""
    pending = ctx.db.registry_size()
    if pending is not None and (pending.queued or pending.running):
        return Reply("", status=202)
    ctx.db.record_registry_size(ctx.db.stored_blob_bytes(), now_ms())
    return Reply("", status=201)


SU = SuperuserPermission()
SU_OR_GRO = SuperuserPermission(global_readonly=True)
_USERS = "/api/v1/superuser/users/{namespace}/quota"
_ORGS = "/api/v1/superuser/organization/{namespace}/quota"
_FRESH: dict[str, Any] = {"feature": FEATURES, "fresh_login": True, "order": "validate-first"}
_DELETE: dict[str, Any] = {"feature": FEATURES, "success": 204}
TAG = "superuser"

OPERATIONS = (
    Operation("GET", _USERS, "listUserQuotaSuperUser", TAG,
              "List the quota of a user or organization.", list_user_quota_super_user, Scope.SUPERUSER,
              SU_OR_GRO, params=(NAMESPACE,), **_FRESH),
    Operation("POST", _USERS, "createUserQuotaSuperUser", TAG,
              "Give a user or organization its storage quota.", create_user_quota_super_user, Scope.SUPERUSER,
              SU, params=(NAMESPACE,), body=NEW_NAMESPACE_QUOTA, success=201, **_FRESH),
    Operation("PUT", _USERS + "/{quota_id}", "changeUserQuotaSuperUser", TAG,
              "Change the size of a user's or organization's quota.", change_user_quota_super_user,
              Scope.SUPERUSER, SU, params=(QUOTA_ID, NAMESPACE), body=UPDATE_NAMESPACE_QUOTA, **_FRESH),
    Operation("DELETE", _USERS + "/{quota_id}", "deleteUserQuotaSuperUser", TAG,
              "Remove a user's or organization's quota.", delete_user_quota_super_user, Scope.SUPERUSER, SU,
              params=(QUOTA_ID, NAMESPACE), **_DELETE),
    Operation("GET", _ORGS, "listOrganizationQuotaSuperUser", TAG,
              "List the quota of an organization or user.", list_organization_quota_super_user,
              Scope.SUPERUSER, SU_OR_GRO, params=(NAMESPACE,), **_FRESH),
    Operation("POST", _ORGS, "createOrganizationQuotaSuperUser", TAG,
              "Give an organization or user its storage quota.", create_organization_quota_super_user,
              Scope.SUPERUSER, SU, params=(NAMESPACE,), body=NEW_NAMESPACE_QUOTA, success=201, **_FRESH),
    Operation("PUT", _ORGS + "/{quota_id}", "changeOrganizationQuotaSuperUser", TAG,
              "Change the size of an organization's or user's quota.", change_organization_quota_super_user,
              Scope.SUPERUSER, SU, params=(QUOTA_ID, NAMESPACE), body=UPDATE_NAMESPACE_QUOTA, **_FRESH),
    Operation("DELETE", _ORGS + "/{quota_id}", "deleteOrganizationQuotaSuperUser", TAG,
              "Remove an organization's or user's quota.", delete_organization_quota_super_user,
              Scope.SUPERUSER, SU, params=(QUOTA_ID, NAMESPACE), **_DELETE),
    Operation("GET", "/api/v1/superuser/registrysize/", "getRegistrySize", TAG,
              "Show the registry's total stored size and when it was last calculated.", get_registry_size,
              Scope.SUPERUSER, SU_OR_GRO, internal=True, fresh_login=True, feature="SUPER_USERS"),
    Operation("POST", "/api/v1/superuser/registrysize/", "queueRegistrySizeCalculation", TAG,
              "Calculate the registry's total stored size.", queue_registry_size_calculation, Scope.SUPERUSER,
              SU, internal=True, fresh_login=True, feature="SUPER_USERS", success=201, other_statuses=(202,)),
)
