"""Auto-prune policies of organizations, of the caller's own namespace and of repositories (discovery tag
`policy`, FEATURE_AUTO_PRUNE).

A namespace may hold several policies and each repository several more; they all apply together. Creating
one queues the namespace for the prune worker (reference_server/workers/autoprune.py), which does the pruning
later: nothing is pruned during the request. Quay's quirks kept here: an update answers 204 (Flask drops the
`{uuid}` body it builds), only create refuses exact duplicates, and listing an unknown organization gives an
empty list rather than 404.
"""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import invalid_request, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Body,
    Operation,
    SignedIn,
    path_param,
)
from reference_server.core.render import Reply
from reference_server.domain.models import Repository, User
from reference_server.storage.policies import (
    PolicyError,
    PolicyRecord,
    same_autoprune_policy,
    validate_autoprune_config,
)

FEATURE = "AUTO_PRUNE"
POLICY_UUID = path_param("policy_uuid", "The unique id of the policy.")

POLICY_BODY = Body("AutoPrunePolicyConfig", {
    "type": "object",
    "description": "An auto-prune policy: which tags to prune, and by what rule.",
    "required": ["method", "value"],
    "properties": {
        "method": {"type": "string", "description": "The pruning rule: number_of_tags or creation_date."},
        "value": {"type": ["integer", "string"],
                  "description": "How many tags to keep (e.g. 10), or how old a tag may get (e.g. 7d)."},
        "tagPattern": {"type": "string", "description": "A regular expression that selects the tags to prune."},
        "tagPatternMatches": {"type": "boolean",
                              "description": "Prune the tags that match the pattern (true) or the others (false)."},
    },
})

NAMESPACE_DUPLICATE = "Existing policy with same values for this namespace, duplicate policies are not permitted"
REPOSITORY_DUPLICATE = "Existing policy with same values for this repository, duplicate policies are not permitted"


# ---- shared steps ----------------------------------------------------------------------------------------


def _config(ctx: Ctx) -> dict[str, Any]:
    """The body under Quay's stored keys; the pattern is trimmed, so blanks alone count as empty."""
    body: dict[str, Any] = ctx.body or {}
    pattern = body.get("tagPattern")
    if isinstance(pattern, str):
        pattern = pattern.strip()
    return {"method": body.get("method"), "value": body.get("value"), "tag_pattern": pattern,
            "tag_pattern_matches": body.get("tagPatternMatches", True)}


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    try:
        validate_autoprune_config(config)
    except PolicyError as exc:
        raise invalid_request(str(exc)) from exc
    return config


def _log_metadata(config: dict[str, Any], namespace: str, repo: str | None = None) -> dict[str, Any]:
    meta = {"method": config["method"], "value": config["value"], "tag_pattern": config["tag_pattern"],
            "tag_pattern_matches": config["tag_pattern_matches"], "namespace": namespace}
    if repo is not None:
        meta["repo"] = repo
    return meta


def _active(namespace: User | None) -> User:
    """Writes need an existing, enabled namespace; anything else is Quay's 404."""
    if namespace is None or not namespace.enabled or namespace.robot:
        raise not_found()
    return namespace


def _existing(namespace: User | None) -> User:
    if namespace is None:
        raise not_found()
    return namespace


def _found(record: PolicyRecord | None) -> PolicyRecord:
    if record is None:
        raise not_found()
    return record


# ---- namespace policies (organization or the caller's own namespace) --------------------------------------


def _list_namespace(ctx: Ctx, namespace: User | None) -> dict[str, Any]:
    records = ctx.db.policies("autoprune", namespace.id) if namespace is not None else []
    return {"policies": [r.autoprune_view() for r in records]}


def _get_namespace(ctx: Ctx, namespace: User | None, policy_uuid: str) -> dict[str, Any]:
    if namespace is None:
        raise not_found()
    return _found(ctx.db.policy("autoprune", policy_uuid, namespace.id)).autoprune_view()


def _create_namespace(ctx: Ctx, namespace: User | None) -> dict[str, str]:
    ns = _active(namespace)
    config = _validated(_config(ctx))
    if any(same_autoprune_policy(p.config, config) for p in ctx.db.policies("autoprune", ns.id)):
        raise invalid_request(NAMESPACE_DUPLICATE)
    record = ctx.db.create_policy("autoprune", ns.id, None, config)
    ctx.log("create_namespace_autoprune_policy", namespace=ns, metadata=_log_metadata(config, ns.username))
    return {"uuid": record.uuid}


def _update_namespace(ctx: Ctx, namespace: User | None, policy_uuid: str) -> Reply:
    ns = _active(namespace)
    record = _found(ctx.db.policy("autoprune", policy_uuid, ns.id))
    config = _validated(_config(ctx))
    ctx.db.update_policy("autoprune", record.id, config)
    ctx.log("update_namespace_autoprune_policy", namespace=ns, metadata=_log_metadata(config, ns.username))
    return Reply({"uuid": policy_uuid}, status=204)


def _delete_namespace(ctx: Ctx, namespace: User | None, policy_uuid: str) -> dict[str, str]:
    ns = _existing(namespace)
    record = _found(ctx.db.policy("autoprune", policy_uuid, ns.id))
    ctx.db.delete_policy("autoprune", record.id)
    ctx.log("delete_namespace_autoprune_policy", namespace=ns,
            metadata={"policy_uuid": policy_uuid, "namespace": ns.username})
    return {"uuid": policy_uuid}


def list_organization_auto_prune_policies(ctx: Ctx, orgname: str) -> dict[str, Any]:
    return _list_namespace(ctx, ctx.namespace)


def create_organization_auto_prune_policy(ctx: Ctx, orgname: str) -> dict[str, str]:
    return _create_namespace(ctx, ctx.namespace)


def get_organization_auto_prune_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> dict[str, Any]:
    return _get_namespace(ctx, ctx.namespace, policy_uuid)


def update_organization_auto_prune_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> Reply:
    return _update_namespace(ctx, ctx.namespace, policy_uuid)


def delete_organization_auto_prune_policy(ctx: Ctx, orgname: str, policy_uuid: str) -> dict[str, str]:
    return _delete_namespace(ctx, ctx.namespace, policy_uuid)


def list_user_auto_prune_policies(ctx: Ctx) -> dict[str, Any]:
    return _list_namespace(ctx, ctx.require_user())


def create_user_auto_prune_policy(ctx: Ctx) -> dict[str, str]:
    return _create_namespace(ctx, ctx.require_user())


def get_user_auto_prune_policy(ctx: Ctx, policy_uuid: str) -> dict[str, Any]:
    return _get_namespace(ctx, ctx.require_user(), policy_uuid)


def update_user_auto_prune_policy(ctx: Ctx, policy_uuid: str) -> Reply:
    return _update_namespace(ctx, ctx.require_user(), policy_uuid)


def delete_user_auto_prune_policy(ctx: Ctx, policy_uuid: str) -> dict[str, str]:
    return _delete_namespace(ctx, ctx.require_user(), policy_uuid)


# ---- repository policies -------------------------------------------------------------------------------


def _repo_policy(ctx: Ctx, repo: Repository, policy_uuid: str) -> PolicyRecord:
    return _found(ctx.db.policy("autoprune", policy_uuid, repo.namespace_id, repo.id))


def list_repository_auto_prune_policies(ctx: Ctx, repository: str) -> dict[str, Any]:
    repo = ctx.repository()
    return {"policies": [r.autoprune_view() for r in ctx.db.policies("autoprune", repo.namespace_id, repo.id)]}


def create_repository_auto_prune_policy(ctx: Ctx, repository: str) -> dict[str, str]:
    repo = ctx.repository()
    ns = _active(ctx.namespace)
    config = _validated(_config(ctx))
    if any(same_autoprune_policy(p.config, config) for p in ctx.db.policies("autoprune", ns.id, repo.id)):
        raise invalid_request(REPOSITORY_DUPLICATE)
    record = ctx.db.create_policy("autoprune", ns.id, repo.id, config)
    ctx.log("create_repository_autoprune_policy", namespace=ns, repo=repo,
            metadata=_log_metadata(config, ns.username, repo.name))
    return {"uuid": record.uuid}


def get_repository_auto_prune_policy(ctx: Ctx, repository: str, policy_uuid: str) -> dict[str, Any]:
    return _repo_policy(ctx, ctx.repository(), policy_uuid).autoprune_view()


def update_repository_auto_prune_policy(ctx: Ctx, repository: str, policy_uuid: str) -> Reply:
    ns = _active(ctx.namespace)
    repo = ctx.repository()
    record = _repo_policy(ctx, repo, policy_uuid)
    config = _validated(_config(ctx))
    ctx.db.update_policy("autoprune", record.id, config)
    ctx.log("update_repository_autoprune_policy", namespace=ns, repo=repo,
            metadata=_log_metadata(config, ns.username, repo.name))
    return Reply({"uuid": policy_uuid}, status=204)


def delete_repository_auto_prune_policy(ctx: Ctx, repository: str, policy_uuid: str) -> dict[str, str]:
    ns = _existing(ctx.namespace)
    repo = ctx.repository()
    record = _repo_policy(ctx, repo, policy_uuid)
    ctx.db.delete_policy("autoprune", record.id)
    ctx.log("delete_repository_autoprune_policy", namespace=ns, repo=repo,
            metadata={"policy_uuid": policy_uuid, "namespace": ns.username, "repo": repo.name})
    return {"uuid": policy_uuid}


# ---- declarations ----------------------------------------------------------------------------------------

_ORG = "/api/v1/organization/{orgname}/autoprunepolicy/"
_ORG_ONE = _ORG + "{policy_uuid}"
_REPO = "/api/v1/repository/{repository}/autoprunepolicy/"
_REPO_ONE = _REPO + "{policy_uuid}"
_USER = "/api/v1/user/autoprunepolicy/"
_USER_ONE = _USER + "{policy_uuid}"

# Org admins manage; the global read-only superuser may read; full-access superusers pass everywhere.
_USER_ADMIN = SignedIn(UserRole.ADMIN)

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", _ORG, "listOrganizationAutoPrunePolicies", "policy",
              "List an organization's auto-prune policies.", list_organization_auto_prune_policies,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,), feature=FEATURE),
    Operation("POST", _ORG, "createOrganizationAutoPrunePolicy", "policy",
              "Add an auto-prune policy to an organization.", create_organization_auto_prune_policy,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME,), body=POLICY_BODY, success=201,
              order="validate-first", feature=FEATURE),
    Operation("GET", _ORG_ONE, "getOrganizationAutoPrunePolicy", "policy",
              "Show one auto-prune policy of an organization.", get_organization_auto_prune_policy,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, POLICY_UUID), feature=FEATURE),
    Operation("PUT", _ORG_ONE, "updateOrganizationAutoPrunePolicy", "policy",
              "Replace one auto-prune policy of an organization.", update_organization_auto_prune_policy,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, POLICY_UUID), body=POLICY_BODY, success=204,
              order="validate-first", feature=FEATURE),
    Operation("DELETE", _ORG_ONE, "deleteOrganizationAutoPrunePolicy", "policy",
              "Remove one auto-prune policy of an organization.", delete_organization_auto_prune_policy,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, POLICY_UUID), feature=FEATURE),
    Operation("GET", _REPO, "listRepositoryAutoPrunePolicies", "policy",
              "List a repository's own auto-prune policies.", list_repository_auto_prune_policies,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY,), feature=FEATURE),
    Operation("POST", _REPO, "createRepositoryAutoPrunePolicy", "policy",
              "Add an auto-prune policy to a repository.", create_repository_auto_prune_policy,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY,), body=POLICY_BODY, success=201,
              feature=FEATURE),
    Operation("GET", _REPO_ONE, "getRepositoryAutoPrunePolicy", "policy",
              "Show one auto-prune policy of a repository.", get_repository_auto_prune_policy,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY, POLICY_UUID), feature=FEATURE),
    Operation("PUT", _REPO_ONE, "updateRepositoryAutoPrunePolicy", "policy",
              "Replace one auto-prune policy of a repository.", update_repository_auto_prune_policy,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, POLICY_UUID), body=POLICY_BODY, success=204,
              feature=FEATURE),
    Operation("DELETE", _REPO_ONE, "deleteRepositoryAutoPrunePolicy", "policy",
              "Remove one auto-prune policy of a repository.", delete_repository_auto_prune_policy,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, POLICY_UUID), feature=FEATURE),
    Operation("GET", _USER, "listUserAutoPrunePolicies", "policy",
              "List the auto-prune policies of the caller's own namespace.", list_user_auto_prune_policies,
              Scope.USER_ADMIN, _USER_ADMIN, feature=FEATURE),
    Operation("POST", _USER, "createUserAutoPrunePolicy", "policy",
              "Add an auto-prune policy to the caller's own namespace.", create_user_auto_prune_policy,
              Scope.USER_ADMIN, _USER_ADMIN, body=POLICY_BODY, success=201, order="validate-first",
              feature=FEATURE),
    Operation("GET", _USER_ONE, "getUserAutoPrunePolicy", "policy",
              "Show one auto-prune policy of the caller's own namespace.", get_user_auto_prune_policy,
              Scope.USER_ADMIN, _USER_ADMIN, params=(POLICY_UUID,), feature=FEATURE),
    Operation("PUT", _USER_ONE, "updateUserAutoPrunePolicy", "policy",
              "Replace one auto-prune policy of the caller's own namespace.", update_user_auto_prune_policy,
              Scope.USER_ADMIN, _USER_ADMIN, params=(POLICY_UUID,), body=POLICY_BODY, success=204,
              order="validate-first", feature=FEATURE),
    Operation("DELETE", _USER_ONE, "deleteUserAutoPrunePolicy", "policy",
              "Remove one auto-prune policy of the caller's own namespace.", delete_user_auto_prune_policy,
              Scope.USER_ADMIN, _USER_ADMIN, params=(POLICY_UUID,), feature=FEATURE),
)
