"""Namespace storage quotas and their warning/reject limits (discovery tag `namespacequota`), plus the quota
figures other areas show (`quotas` and `quota_report` on users, organizations and repositories).

Quay's rules reproduced here: one quota per namespace; reading an organization's quota needs membership
(global read-only superusers and superusers with full access pass too), changing it needs a superuser with
full access, so a plain organization admin is refused. Limit types and thresholds are checked by the model
layer, whose refusals escape as 400 `{"message": ...}`, except where Quay's handler catches them and answers
with its standard error body. Every route needs SUPER_USERS, QUOTA_MANAGEMENT and EDIT_QUOTA.
"""

from __future__ import annotations

from typing import Any

import bitmath  # type: ignore[import-untyped]

from reference_server.auth.scopes import Scope, TeamRole, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    ORGNAME,
    Body,
    Operation,
    OrgPermission,
    SignedIn,
    SuperuserPermission,
    path_param,
)
from reference_server.core.render import Reply
from reference_server.domain.models import Repository, User
from reference_server.storage.registry import QuotaLimitRecord, QuotaRecord

FEATURES = "SUPER_USERS+QUOTA_MANAGEMENT+EDIT_QUOTA"
QUOTA_TYPES = ("Warning", "Reject")
BAD_TYPE = "Quota type must be one of [Warning, Reject]"
BAD_THRESHOLD = "Quota limit threshold must be between 1 and 100"
# Quay stores limits in a 64-bit column; a bigger value fails in the database and is reported as unsupported.
MAX_LIMIT_BYTES = 2**63 - 1
# The body pattern Quay accepts for a human-readable limit: digits, an optional space, an optional unit.
LIMIT_PATTERN = (r"^(\d+\s?(B|KiB|MiB|GiB|TiB|PiB|EiB|ZiB|YiB|Ki|Mi|Gi|Ti|Pi|Ei|Zi|Yi|KB|MB|GB|TB|PB|EB|ZB|YB"
                 r"|K|M|G|T|P|E|Z|Y)?)$")

QUOTA_ID = path_param("quota_id", "The id of the namespace's quota.")
LIMIT_ID = path_param("limit_id", "The id of one limit of the quota.")


# ---- sizes -----------------------------------------------------------------------------------------------


def human_size(limit_bytes: int) -> str:
    """Quay's display form: the largest binary unit that keeps the value at least 1, one decimal."""
    text: str = bitmath.Byte(limit_bytes).best_prefix().format("{value:.1f} {unit}")
    return text


def parse_limit(text: str) -> float:
    """Bytes meant by a human limit such as "200M" (SI: 200 MB) or "512Mi" (binary: 512 MiB).

    Single letters are decimal units, as in the bitmath version Quay pins. Raises ValueError when bitmath
    cannot read the text. The value stays a float, like Quay's, because refusal messages quote it as such.
    """
    value: float = bitmath.parse_string(text, strict=False, system=bitmath.SI).to_Byte().value
    return value


def default_reject_bytes(ctx: Ctx) -> int:
    """DEFAULT_SYSTEM_REJECT_QUOTA_BYTES (Quay's default: 0, no system-wide quota)."""
    try:
        return int(ctx.config.raw.get("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES") or 0)
    except (TypeError, ValueError):
        return 0


def quota_shown(ctx: Ctx) -> bool:
    """Quay adds quota fields to user and organization views only when quotas can be edited."""
    return ctx.config.feature("QUOTA_MANAGEMENT") and ctx.config.feature("EDIT_QUOTA")


# ---- views -----------------------------------------------------------------------------------------------


def limit_view(limit: QuotaLimitRecord) -> dict[str, Any]:
    return {"id": limit.id, "type": limit.type, "limit_percent": limit.percent}


def quota_view(ctx: Ctx, quota: QuotaRecord | None) -> dict[str, Any]:
    """A stored quota, or (None) the synthetic system default one, which has no id and no limits."""
    default_bytes = default_reject_bytes(ctx)
    limit_bytes = quota.limit_bytes if quota is not None else default_bytes
    return {
        "id": quota.id if quota is not None else None,
        "limit_bytes": limit_bytes,
        "limit": human_size(limit_bytes),
        "default_config": quota is None,
        "limits": [limit_view(limit) for limit in quota.limits] if quota is not None else [],
        "default_config_exists": default_bytes != 0,
    }


def _configured_quota(ctx: Ctx, quota: QuotaRecord | None) -> int | None:
    if quota is not None:
        return quota.limit_bytes
    default_bytes = default_reject_bytes(ctx)
    return default_bytes if default_bytes != 0 else None


def quota_report(ctx: Ctx, namespace: User) -> dict[str, Any]:
    """Usage of a namespace against its quota.

    Quay fills usage in with a backfill worker and reports "waiting" until it has visited the namespace;
    usage here is exact from the first push, so a namespace that has stored something reads "complete" and
    an empty one "waiting", which is what a running Quay shows for both.
    """
    used = ctx.db.namespace_usage(namespace.id)
    status = "complete" if used > 0 else "waiting"
    return {"quota_bytes": used, "configured_quota": _configured_quota(ctx, ctx.db.namespace_quota(namespace.id)),
            "running_backfill": status, "backfill_status": status}


def quota_fields(ctx: Ctx, namespace: User) -> dict[str, Any]:
    """The `quotas` and `quota_report` keys of a user or organization view (empty when quotas are off)."""
    if not quota_shown(ctx):
        return {}
    quota = ctx.db.namespace_quota(namespace.id)
    return {"quotas": [quota_view(ctx, quota)] if quota is not None else [],
            "quota_report": quota_report(ctx, namespace)}


def repo_quota_report(ctx: Ctx, repo: Repository) -> dict[str, Any]:
    """A repository's own usage (its distinct blobs) and its namespace's configured quota."""
    # Repository lists show many repositories of few namespaces: look each namespace's quota up once.
    cache: dict[int, int | None] = ctx.state.setdefault("configured_quota", {})
    if repo.namespace_id not in cache:
        cache[repo.namespace_id] = _configured_quota(ctx, ctx.db.namespace_quota(repo.namespace_id))
    return {"quota_bytes": ctx.db.repository_usage(repo.id), "configured_quota": cache[repo.namespace_id]}


# ---- lookups shared with the superuser panel -------------------------------------------------------------


def _as_id(text: str) -> int | None:
    """A path id as a database integer; anything else matches nothing."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_LIMIT_BYTES:  # "³" is a digit to isdigit()
        return None
    return int(text)


def namespace_quota_by_id(ctx: Ctx, namespace: User | None, quota_id: str) -> QuotaRecord:
    """The namespace's quota when `quota_id` names it, else 404."""
    wanted = _as_id(quota_id)
    quota = ctx.db.namespace_quota(namespace.id) if namespace is not None else None
    if quota is None or wanted is None or quota.id != wanted:
        raise not_found()
    return quota


def quota_limit_by_id(ctx: Ctx, quota: QuotaRecord, limit_id: str) -> QuotaLimitRecord:
    wanted = _as_id(limit_id)
    if wanted is None:
        raise not_found()
    for limit in quota.limits:
        if limit.id == wanted:
            return limit
    if ctx.db.quota_limit_quota_id(wanted) is not None:
        # Quay's model raises a bare error for a limit of another quota; it escapes as 400 with no text.
        raise data_model_error("")
    raise not_found()


def requested_limit_bytes(body: dict[str, Any], bad_format: str) -> float | int | None:
    """The byte count a create/update body asks for (None when it names none)."""
    if "limit" in body:
        try:
            return parse_limit(str(body["limit"]))
        except ValueError:
            raise invalid_request(bad_format) from None
    value: int | None = body.get("limit_bytes")
    return value


def checked_limit_bytes(value: float | int) -> int:
    """Quay's model check on a new size: positive, and small enough for its 64-bit column."""
    if value <= 0:
        raise invalid_request(f"Invalid quota size limit value: '{value}'")
    if value > MAX_LIMIT_BYTES:
        raise invalid_request("Unsupported quota size limit.")
    return int(value)


def create_quota(ctx: Ctx, namespace: User, limit_bytes: int) -> None:
    ctx.db.create_namespace_quota(namespace.id, limit_bytes)
    ctx.log("org_create_quota", namespace=namespace, metadata={
        "namespace": namespace.username, "limit_bytes": limit_bytes, "limit": human_size(limit_bytes)})


def change_quota(ctx: Ctx, namespace: User, quota: QuotaRecord, requested: float | int | None) -> QuotaRecord:
    """Apply an update body's size. Quay skips the update when the size is absent or zero, so `{}` and
    `{"limit_bytes": 0}` both leave the quota as it was."""
    if not requested:
        return quota
    limit_bytes = checked_limit_bytes(requested)
    ctx.db.update_namespace_quota(quota.id, limit_bytes)
    ctx.log("org_change_quota", namespace=namespace, metadata={
        "namespace": namespace.username, "quota_id": quota.id, "limit_bytes": limit_bytes,
        "limit": human_size(limit_bytes), "previous_limit_bytes": quota.limit_bytes})
    fresh = ctx.db.namespace_quota(namespace.id)
    assert fresh is not None
    return fresh


def delete_quota(ctx: Ctx, namespace: User, quota: QuotaRecord) -> None:
    ctx.db.delete_namespace_quota(quota.id)
    ctx.log("org_delete_quota", namespace=namespace, metadata={
        "namespace": namespace.username, "quota_id": quota.id, "limit_bytes": quota.limit_bytes})


def canonical_type(name: str) -> str:
    """'warning' / 'REJECT' ... to Quay's stored names; anything else is the model's 400 message."""
    for known in QUOTA_TYPES:
        if name.lower() == known.lower():
            return known
    raise data_model_error(BAD_TYPE)


# ---- the organization's quota ----------------------------------------------------------------------------


def _namespace(ctx: Ctx, name: str) -> User | None:
    """The user or organization named in the path (Quay looks quotas up by name, whatever the kind)."""
    found = ctx.namespace if ctx.namespace is not None and ctx.namespace.username == name else \
        ctx.db.user_by_name(name)
    return None if found is None or found.robot else found


def list_organization_quota(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    quota = ctx.db.namespace_quota(org.id)
    if quota is not None:
        return [quota_view(ctx, quota)]
    # Without a quota of its own, an organization shows the system default when one is configured.
    return [quota_view(ctx, None)] if default_reject_bytes(ctx) != 0 else []


NEW_QUOTA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The size of a new namespace quota, given either in bytes or as a human-readable size.",
    "oneOf": [
        {"required": ["limit_bytes"], "properties": {
            "limit_bytes": {"type": "integer", "description": "The quota in bytes; must be positive."}}},
        {"required": ["limit"], "properties": {
            "limit": {"type": "string", "pattern": LIMIT_PATTERN,
                      "description": "The quota as digits and an optional unit: 200M is 200 MB, 512Mi is "
                                     "512 MiB."}}},
    ],
}

UPDATE_QUOTA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A new size for a namespace quota, in bytes or human-readable; an empty object changes "
                   "nothing.",
    "oneOf": [
        {"required": ["limit_bytes"], "additionalProperties": False, "properties": {
            "limit_bytes": {"type": "integer", "description": "The new quota in bytes."}}},
        {"required": ["limit"], "additionalProperties": False, "properties": {
            "limit": {"type": "string", "pattern": LIMIT_PATTERN,
                      "description": "The new quota as digits and an optional unit."}}},
        {"additionalProperties": False, "properties": {"limit_bytes": {"not": {}}, "limit": {"not": {}}}},
    ],
}

NEW_ORG_QUOTA = Body("NewOrgQuota", NEW_QUOTA_SCHEMA)
UPDATE_ORG_QUOTA = Body("UpdateOrgQuota", UPDATE_QUOTA_SCHEMA)
ORG_BAD_FORMAT = "Invalid limit format, use a number followed by a unit (e.g. 1GiB)"


def create_organization_quota(ctx: Ctx, orgname: str) -> Any:
    requested = requested_limit_bytes(ctx.body, ORG_BAD_FORMAT)
    org = ctx.db.user_by_name(orgname)
    if org is None or not org.organization:
        raise not_found()
    if ctx.db.namespace_quota(org.id) is not None:
        raise invalid_request(f"Organization quota for '{orgname}' already exists")
    assert requested is not None  # the schema requires one of the two keys
    create_quota(ctx, org, checked_limit_bytes(requested))
    return "Created"


def get_organization_quota(ctx: Ctx, orgname: str, quota_id: str) -> Any:
    return quota_view(ctx, namespace_quota_by_id(ctx, _namespace(ctx, orgname), quota_id))


def change_organization_quota(ctx: Ctx, orgname: str, quota_id: str) -> Any:
    namespace = _namespace(ctx, orgname)
    quota = namespace_quota_by_id(ctx, namespace, quota_id)
    assert namespace is not None
    requested = requested_limit_bytes(ctx.body or {}, ORG_BAD_FORMAT)
    return quota_view(ctx, change_quota(ctx, namespace, quota, requested))


def delete_organization_quota(ctx: Ctx, orgname: str, quota_id: str) -> Any:
    namespace = _namespace(ctx, orgname)
    quota = namespace_quota_by_id(ctx, namespace, quota_id)
    assert namespace is not None
    delete_quota(ctx, namespace, quota)
    return Reply(status=204)


# ---- limits of the organization's quota ------------------------------------------------------------------

_LIMIT_PROPERTIES: dict[str, Any] = {
    "type": {"type": "string", "description": "Warning (notify only) or Reject (refuse pushes); any case."},
    "threshold_percent": {"type": "integer",
                          "description": "Share of the quota, 1 to 100, at which the limit applies."},
}
NEW_ORG_QUOTA_LIMIT = Body("NewOrgQuotaLimit", {
    "type": "object",
    "description": "A new limit of a namespace quota.",
    "required": ["type", "threshold_percent"],
    "properties": _LIMIT_PROPERTIES,
})
UPDATE_ORG_QUOTA_LIMIT = Body("UpdateOrgQuotaLimit", {
    "type": "object",
    "description": "New settings of a quota limit; absent keys stay as they are.",
    "properties": _LIMIT_PROPERTIES,
})


def _threshold_ok(percent: int) -> bool:
    return 0 < percent <= 100


def list_organization_quota_limit(ctx: Ctx, orgname: str, quota_id: str) -> Any:
    quota = namespace_quota_by_id(ctx, _namespace(ctx, orgname), quota_id)
    return [limit_view(limit) for limit in quota.limits]


def create_organization_quota_limit(ctx: Ctx, orgname: str, quota_id: str) -> Any:
    namespace = _namespace(ctx, orgname)
    quota = namespace_quota_by_id(ctx, namespace, quota_id)
    assert namespace is not None
    percent: int = ctx.body["threshold_percent"]
    # Quay's duplicate lookup checks the threshold (when non-zero) and the type before anything else; its
    # refusals escape the handler as the model's 400 message.
    if percent and not _threshold_ok(percent):
        raise data_model_error(BAD_THRESHOLD)
    limit_type = canonical_type(str(ctx.body["type"]))
    # A zero threshold takes no part in the lookup, so any limit of the same type counts as a duplicate.
    if any(limit.type == limit_type and (not percent or limit.percent == percent) for limit in quota.limits):
        raise invalid_request("Quota limit already exists")
    if not _threshold_ok(percent):
        raise invalid_request(BAD_THRESHOLD)
    ctx.db.add_quota_limit(quota.id, limit_type, percent)
    # Quay logs the type as the request spelled it.
    ctx.log("org_create_quota_limit", namespace=namespace, metadata={
        "namespace": namespace.username, "type": str(ctx.body["type"]), "threshold_percent": percent})
    return "Created"


def get_organization_quota_limit(ctx: Ctx, orgname: str, quota_id: str, limit_id: str) -> Any:
    quota = namespace_quota_by_id(ctx, _namespace(ctx, orgname), quota_id)
    return limit_view(quota_limit_by_id(ctx, quota, limit_id))


def change_organization_quota_limit(ctx: Ctx, orgname: str, quota_id: str, limit_id: str) -> Any:
    namespace = _namespace(ctx, orgname)
    quota = namespace_quota_by_id(ctx, namespace, quota_id)
    assert namespace is not None
    limit = quota_limit_by_id(ctx, quota, limit_id)
    body: dict[str, Any] = ctx.body or {}
    new_type = canonical_type(str(body["type"])) if "type" in body else None
    new_percent: int | None = body.get("threshold_percent") if "threshold_percent" in body else None
    if "threshold_percent" in body and (new_percent is None or not _threshold_ok(new_percent)):
        raise data_model_error(BAD_THRESHOLD)
    # Unlike creation, Quay checks no duplicate here.
    ctx.db.update_quota_limit(limit.id, limit_type=new_type, percent=new_percent)
    ctx.log("org_change_quota_limit", namespace=namespace, metadata={
        "namespace": namespace.username, "quota_id": quota.id, "limit_id": limit.id,
        "type": new_type or limit.type, "threshold_percent": new_percent or limit.percent,
        "previous_type": limit.type, "previous_threshold_percent": limit.percent})
    fresh = ctx.db.namespace_quota(namespace.id)
    assert fresh is not None
    return quota_view(ctx, fresh)


def delete_organization_quota_limit(ctx: Ctx, orgname: str, quota_id: str, limit_id: str) -> Any:
    namespace = _namespace(ctx, orgname)
    quota = namespace_quota_by_id(ctx, namespace, quota_id)
    assert namespace is not None
    limit = quota_limit_by_id(ctx, quota, limit_id)
    ctx.db.delete_quota_limit(limit.id)
    ctx.log("org_delete_quota_limit", namespace=namespace, metadata={
        "namespace": namespace.username, "quota_id": quota.id, "limit_id": limit.id, "type": limit.type,
        "threshold_percent": limit.percent})
    return Reply(status=204)


# ---- the signed-in user's own quota (read only) ----------------------------------------------------------


def list_user_quota(ctx: Ctx) -> Any:
    # Unlike the organization list, the user's list never shows the system default.
    quota = ctx.db.namespace_quota(ctx.require_user().id)
    return [quota_view(ctx, quota)] if quota is not None else []


def get_user_quota(ctx: Ctx, quota_id: str) -> Any:
    return quota_view(ctx, namespace_quota_by_id(ctx, ctx.require_user(), quota_id))


def list_user_quota_limit(ctx: Ctx, quota_id: str) -> Any:
    quota = namespace_quota_by_id(ctx, ctx.require_user(), quota_id)
    return [limit_view(limit) for limit in quota.limits]


def get_user_quota_limit(ctx: Ctx, quota_id: str, limit_id: str) -> Any:
    quota = namespace_quota_by_id(ctx, ctx.require_user(), quota_id)
    quota_limit_by_id(ctx, quota, limit_id)
    # Quay answers with the whole quota here, not the limit.
    return quota_view(ctx, quota)


# Reads: organization members (any team role), the global read-only superuser, superusers with full access.
# Quay attaches no scope to them; the member check still caps tokens (org:admin or repo:create pass).
MEMBER_READ = OrgPermission(TeamRole.MEMBER, global_readonly=True)
# Writes: only a superuser with full access; being the organization's admin is not enough.
SU_FULL_ACCESS = SuperuserPermission(full_access_only=True)
_READ: dict[str, Any] = {"feature": FEATURES, "extra": {"no_scope_metadata": True}}
_WRITE: dict[str, Any] = {"feature": FEATURES, "order": "validate-first"}
_USER: dict[str, Any] = {"feature": FEATURES}
_Q = "/api/v1/organization/{orgname}/quota"
_UQ = "/api/v1/user/quota"
TAG = "namespacequota"

OPERATIONS = (
    Operation("GET", _Q, "listOrganizationQuota", TAG,
              "List an organization's quota, or the system default quota when it has none.",
              list_organization_quota, None, MEMBER_READ, params=(ORGNAME,), **_READ),
    Operation("POST", _Q, "createOrganizationQuota", TAG,
              "Give an organization its storage quota.", create_organization_quota, Scope.SUPERUSER,
              SU_FULL_ACCESS, params=(ORGNAME,), body=NEW_ORG_QUOTA, success=201, **_WRITE),
    Operation("GET", _Q + "/{quota_id}", "getOrganizationQuota", TAG,
              "Show one quota of an organization with its limits.", get_organization_quota, None,
              MEMBER_READ, params=(ORGNAME, QUOTA_ID), **_READ),
    Operation("PUT", _Q + "/{quota_id}", "changeOrganizationQuota", TAG,
              "Change the size of an organization's quota.", change_organization_quota, Scope.SUPERUSER,
              SU_FULL_ACCESS, params=(ORGNAME, QUOTA_ID), body=UPDATE_ORG_QUOTA, **_WRITE),
    Operation("DELETE", _Q + "/{quota_id}", "deleteOrganizationQuota", TAG,
              "Remove an organization's quota and its limits.", delete_organization_quota, Scope.SUPERUSER,
              SU_FULL_ACCESS, params=(ORGNAME, QUOTA_ID), success=204, **_WRITE),
    Operation("GET", _Q + "/{quota_id}/limit", "listOrganizationQuotaLimit", TAG,
              "List the warning and reject limits of an organization's quota.", list_organization_quota_limit,
              None, MEMBER_READ, params=(ORGNAME, QUOTA_ID), **_READ),
    Operation("POST", _Q + "/{quota_id}/limit", "createOrganizationQuotaLimit", TAG,
              "Add a warning or reject limit to an organization's quota.", create_organization_quota_limit,
              Scope.SUPERUSER, SU_FULL_ACCESS, params=(ORGNAME, QUOTA_ID), body=NEW_ORG_QUOTA_LIMIT,
              success=201, **_WRITE),
    Operation("GET", _Q + "/{quota_id}/limit/{limit_id}", "getOrganizationQuotaLimit", TAG,
              "Show one limit of an organization's quota.", get_organization_quota_limit, None, MEMBER_READ,
              params=(ORGNAME, QUOTA_ID, LIMIT_ID), **_READ),
    Operation("PUT", _Q + "/{quota_id}/limit/{limit_id}", "changeOrganizationQuotaLimit", TAG,
              "Change the type or threshold of a quota limit and show the whole quota.",
              change_organization_quota_limit, Scope.SUPERUSER, SU_FULL_ACCESS,
              params=(ORGNAME, QUOTA_ID, LIMIT_ID), body=UPDATE_ORG_QUOTA_LIMIT, **_WRITE),
    Operation("DELETE", _Q + "/{quota_id}/limit/{limit_id}", "deleteOrganizationQuotaLimit", TAG,
              "Remove one limit from an organization's quota.", delete_organization_quota_limit,
              Scope.SUPERUSER, SU_FULL_ACCESS, params=(ORGNAME, QUOTA_ID, LIMIT_ID), success=204, **_WRITE),
    Operation("GET", _UQ, "listUserQuota", TAG,
              "List the signed-in user's own quota.", list_user_quota, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), **_USER),
    Operation("GET", _UQ + "/{quota_id}", "getUserQuota", TAG,
              "Show the signed-in user's quota with its limits.", get_user_quota, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), params=(QUOTA_ID,), **_USER),
    Operation("GET", _UQ + "/{quota_id}/limit", "listUserQuotaLimit", TAG,
              "List the limits of the signed-in user's quota.", list_user_quota_limit, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), params=(QUOTA_ID,), **_USER),
    Operation("GET", _UQ + "/{quota_id}/limit/{limit_id}", "getUserQuotaLimit", TAG,
              "Check one limit of the signed-in user's quota and show the whole quota.", get_user_quota_limit,
              Scope.USER_ADMIN, SignedIn(UserRole.ADMIN), params=(QUOTA_ID, LIMIT_ID), **_USER),
)
