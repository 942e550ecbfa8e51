"""Tag immutability policies of organizations and repositories (discovery tag `immutability_policy`,
FEATURE_IMMUTABLE_TAGS).

A policy makes every live tag whose whole name matches its pattern (or, with tagPatternMatches false, every
tag that does not match) immutable: at once for the tags already there, and later for new tags through
`Db.apply_immutability_policies` (storage/policies.py), which the registry and the tag API call. Changing or
deleting a policy never makes a tag mutable again.

Unlike auto-prune, Quay checks the pattern before looking the namespace up, refuses duplicates on update too,
and lets an unknown organization escape as its model-layer error (400 `{"message"}`) rather than a 404.
"""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Body,
    Operation,
    path_param,
)
from reference_server.core.render import Reply
from reference_server.domain.models import Repository, User
from reference_server.storage.policies import (
    PolicyError,
    PolicyRecord,
    same_immutability_policy,
    validate_immutability_config,
)

FEATURE = "IMMUTABLE_TAGS"
POLICY_UUID = path_param("policy_uuid", "The unique id of the policy.")
DUPLICATE = "A policy with the same tag_pattern already exists"

POLICY_BODY = Body("ImmutabilityPolicyConfig", {
    "type": "object",
    "description": "A tag immutability policy: which tag names become immutable.",
    "required": ["tagPattern"],
    "properties": {
        "tagPattern": {"type": "string", "description": "A regular expression the whole tag name is matched with."},
        "tagPatternMatches": {"type": "boolean",
                              "description": "Protect the tags that match (true) or the tags that do not (false)."},
    },
})


# ---- shared steps ----------------------------------------------------------------------------------------


def _config(ctx: Ctx) -> dict[str, Any]:
    """The body under Quay's stored keys (pattern trimmed), checked against Quay's rules."""
    body: dict[str, Any] = ctx.body or {}
    pattern = body.get("tagPattern")
    if isinstance(pattern, str):
        pattern = pattern.strip()
    config = {"tag_pattern": pattern, "tag_pattern_matches": body.get("tagPatternMatches", True)}
    try:
        validate_immutability_config(config)
    except PolicyError as exc:
        raise invalid_request(str(exc)) from exc
    return config


def _namespace(namespace: User | None, name: str) -> User:
    """Quay's lookup of an enabled, non-robot namespace; its failure is an uncaught model error."""
    if namespace is None or not namespace.enabled or namespace.robot:
        raise data_model_error(f"Username does not exist: {name}")
    return namespace


def _found(record: PolicyRecord | None) -> PolicyRecord:
    if record is None:
        raise not_found()
    return record


def _refuse_duplicate(ctx: Ctx, ns: User, repo: Repository | None, config: dict[str, Any],
                      exclude: str | None = None) -> None:
    existing = ctx.db.policies("immutability", ns.id, repo.id if repo else None)
    if any(p.uuid != exclude and same_immutability_policy(p.config, config) for p in existing):
        raise invalid_request(DUPLICATE)


def _apply_to_existing(ctx: Ctx, ns: User, repo: Repository | None, config: dict[str, Any]) -> None:
    """Retroactive enforcement, with Quay's summary entry when it changed anything. The entry is the system's
    doing, so it names no performer."""
    count = ctx.db.mark_immutable_by_policy(ns.id, repo.id if repo else None, config["tag_pattern"],
                                            config["tag_pattern_matches"] is not False)
    if count == 0:
        return
    meta: dict[str, Any] = {"namespace": ns.username, "tag_pattern": config["tag_pattern"],
                            "tag_pattern_matches": config["tag_pattern_matches"], "count": count}
    if repo is not None:
        meta["repo"] = repo.name
    ctx.db.write_log("tags_made_immutable_by_policy", account_id=ns.id, performer_id=None,
                     repository_id=repo.id if repo else None, ip=None, metadata=meta)


def _log_metadata(ns: User, repo: Repository | None, extra: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": ns.username}
    if repo is not None:
        meta["repo"] = repo.name
    meta.update(extra)
    return meta


# ---- organization policies -----------------------------------------------------------------------------


def list_org_immutability_policies(ctx: Ctx, orgname: str) -> dict[str, Any]:
    records = ctx.db.policies("immutability", ctx.namespace.id) if ctx.namespace is not None else []
    return {"policies": [r.immutability_view() for r in records]}


def create_org_immutability_policy(ctx: Ctx, orgname: str) -> dict[str, str]:
    config = _config(ctx)
    ns = _namespace(ctx.namespace, orgname)
    _refuse_duplicate(ctx, ns, None, config)
    record = ctx.db.create_policy("immutability", ns.id, None, config)
    _apply_to_existing(ctx, ns, None, config)
    ctx.log("create_immutability_policy", namespace=ns, metadata=_log_metadata(ns, None, config))
    return {"uuid": record.uuid}


def get_org_immutability_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> dict[str, Any]:
    if ctx.namespace is None:
        raise not_found()
    return _found(ctx.db.policy("immutability", policy_uuid, ctx.namespace.id)).immutability_view()


def update_org_immutability_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> Reply:
    config = _config(ctx)
    ns = _namespace(ctx.namespace, orgname)
    record = _found(ctx.db.policy("immutability", policy_uuid, ns.id))
    _refuse_duplicate(ctx, ns, None, config, exclude=record.uuid)
    ctx.db.update_policy("immutability", record.id, config)
    _apply_to_existing(ctx, ns, None, config)
    ctx.log("update_immutability_policy", namespace=ns, metadata=_log_metadata(ns, None, config))
    return Reply({"uuid": policy_uuid}, status=204)


def delete_org_immutability_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> dict[str, str]:
    ns = _namespace(ctx.namespace, orgname)
    record = _found(ctx.db.policy("immutability", policy_uuid, ns.id))
    ctx.db.delete_policy("immutability", record.id)
    ctx.log("delete_immutability_policy", namespace=ns,
            metadata=_log_metadata(ns, None, {"policy_uuid": policy_uuid}))
    return {"uuid": policy_uuid}


# ---- repository policies -------------------------------------------------------------------------------


def list_repository_immutability_policies(ctx: Ctx, repository: str) -> dict[str, Any]:
    repo = ctx.repository()
    return {"policies": [r.immutability_view()
                         for r in ctx.db.policies("immutability", repo.namespace_id, repo.id)]}


def create_repository_immutability_policy(ctx: Ctx, repository: str) -> dict[str, str]:
    repo = ctx.repository()
    config = _config(ctx)
    ns = _namespace(ctx.namespace, repo.namespace)
    _refuse_duplicate(ctx, ns, repo, config)
    record = ctx.db.create_policy("immutability", ns.id, repo.id, config)
    _apply_to_existing(ctx, ns, repo, config)
    ctx.log("create_immutability_policy", namespace=ns, repo=repo, metadata=_log_metadata(ns, repo, config))
    return {"uuid": record.uuid}


def get_repository_immutability_policy(ctx: Ctx, repository: str, policy_uuid: str) -> dict[str, Any]:
    repo = ctx.repository()
    return _found(ctx.db.policy("immutability", policy_uuid, repo.namespace_id, repo.id)).immutability_view()


def update_repository_immutability_policy(ctx: Ctx, repository: str, policy_uuid: str) -> Reply:
    config = _config(ctx)
    repo = ctx.repository()
    ns = _namespace(ctx.namespace, repo.namespace)
    record = _found(ctx.db.policy("immutability", policy_uuid, ns.id, repo.id))
    _refuse_duplicate(ctx, ns, repo, config, exclude=record.uuid)
    ctx.db.update_policy("immutability", record.id, config)
    _apply_to_existing(ctx, ns, repo, config)
    ctx.log("update_immutability_policy", namespace=ns, repo=repo, metadata=_log_metadata(ns, repo, config))
    return Reply({"uuid": policy_uuid}, status=204)


def delete_repository_immutability_policy(ctx: Ctx, repository: str, policy_uuid: str) -> dict[str, str]:
    repo = ctx.repository()
    ns = _namespace(ctx.namespace, repo.namespace)
    record = _found(ctx.db.policy("immutability", policy_uuid, ns.id, repo.id))
    ctx.db.delete_policy("immutability", record.id)
    ctx.log("delete_immutability_policy", namespace=ns, repo=repo,
            metadata=_log_metadata(ns, repo, {"policy_uuid": policy_uuid}))
    return {"uuid": policy_uuid}


# ---- declarations ----------------------------------------------------------------------------------------

_ORG = "/api/v1/organization/{orgname}/immutabilitypolicy/"
_ORG_ONE = _ORG + "{policy_uuid}"
_REPO = "/api/v1/repository/{repository}/immutabilitypolicy/"
_REPO_ONE = _REPO + "{policy_uuid}"

_TAG = "immutability_policy"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", _ORG, "listOrgImmutabilityPolicies", _TAG,
              "List an organization's tag immutability policies.", list_org_immutability_policies,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,), feature=FEATURE),
    Operation("POST", _ORG, "createOrgImmutabilityPolicy", _TAG,
              "Add a tag immutability policy to an organization and apply it to its existing tags.",
              create_org_immutability_policy, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME,), body=POLICY_BODY,
              success=201, order="validate-first", feature=FEATURE),
    Operation("GET", _ORG_ONE, "getOrgImmutabilityPolicy", _TAG,
              "Show one tag immutability policy of an organization.", get_org_immutability_policy,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, POLICY_UUID), feature=FEATURE),
    Operation("PUT", _ORG_ONE, "updateOrgImmutabilityPolicy", _TAG,
              "Replace one tag immutability policy of an organization.", update_org_immutability_policy,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, POLICY_UUID), body=POLICY_BODY, success=204,
              order="validate-first", feature=FEATURE),
    Operation("DELETE", _ORG_ONE, "deleteOrgImmutabilityPolicy", _TAG,
              "Remove one tag immutability policy of an organization.", delete_org_immutability_policy,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, POLICY_UUID), feature=FEATURE),
    Operation("GET", _REPO, "listRepositoryImmutabilityPolicies", _TAG,
              "List a repository's own tag immutability policies.", list_repository_immutability_policies,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY,), feature=FEATURE),
    Operation("POST", _REPO, "createRepositoryImmutabilityPolicy", _TAG,
              "Add a tag immutability policy to a repository and apply it to its existing tags.",
              create_repository_immutability_policy, Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY,),
              body=POLICY_BODY, success=201, feature=FEATURE),
    Operation("GET", _REPO_ONE, "getRepositoryImmutabilityPolicy", _TAG,
              "Show one tag immutability policy of a repository.", get_repository_immutability_policy,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY, POLICY_UUID), feature=FEATURE),
    Operation("PUT", _REPO_ONE, "updateRepositoryImmutabilityPolicy", _TAG,
              "Replace one tag immutability policy of a repository.", update_repository_immutability_policy,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, POLICY_UUID), body=POLICY_BODY, success=204,
              feature=FEATURE),
    Operation("DELETE", _REPO_ONE, "deleteRepositoryImmutabilityPolicy", _TAG,
              "Remove one tag immutability policy of a repository.", delete_repository_immutability_policy,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, POLICY_UUID), feature=FEATURE),
)
