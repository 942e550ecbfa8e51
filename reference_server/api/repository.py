"""Listing, creating and managing repositories (discovery tag `repository`)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from reference_server.api.namespacequota import repo_quota_report
from reference_server.api.tag import last_modified_by_repo, repo_tag_map
from reference_server.auth.scopes import RepoRole, Scope, TeamRole
from reference_server.core.context import Ctx
from reference_server.core.errors import (
    BAD_JSON_MESSAGE,
    MessageError,
    RawError,
    Unauthorized,
    data_model_error,
    invalid_request,
    not_found,
)
from reference_server.core.operation import (
    REPO_ADMIN,
    REPOSITORY,
    Body,
    HandlerChecks,
    Operation,
    RepoPermission,
    query_param,
)
from reference_server.core.permissions import split_repository
from reference_server.core.render import Reply
from reference_server.domain.models import Repository, User
from reference_server.domain.names import valid_repository_name
from reference_server.storage.base import now

REPOS_PER_PAGE = 100
STATS_DAYS = 92
REPO_KINDS = ("image", "application")


def is_restricted(ctx: Ctx, user: User) -> bool:
    """FEATURE_RESTRICTED_USERS: everyone not whitelisted is restricted (all users when no whitelist);
    superusers are exempt."""
    if not ctx.config.feature("RESTRICTED_USERS") or ctx.is_superuser():
        return False
    whitelist = ctx.config.restricted_users_whitelist
    return whitelist is None or user.username not in whitelist


def can_see_everything(ctx: Ctx) -> bool:
    """Full-access superusers and the global read-only superuser see every repository in listings."""
    return ctx.has_full_access() or ctx.is_global_readonly()


# ---- listRepos / createRepo ------------------------------------------------------------------------------


def _page_start(ctx: Ctx, token: str | None) -> int | None:
    """The first repository id of the requested page; an unreadable token starts from the beginning."""
    if not token:
        return None
    text = ctx.db.secrets.decrypt(token)
    if text is None:
        return None
    try:
        value = json.loads(text).get("start_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _list_item(ctx: Ctx, repo: Repository, kind: str, starred: set[int] | None,
               action_sums: dict[int, int] | None, last_modified: dict[int, int] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"namespace": repo.namespace, "name": repo.name, "description": repo.description,
                            "is_public": repo.is_public, "kind": kind, "state": repo.state}
    if last_modified is not None:
        item["last_modified"] = last_modified.get(repo.id)  # start of the newest live tag, epoch seconds
    if action_sums is not None:
        item["popularity"] = float(action_sums.get(repo.id, 0))
    if starred is not None:
        item["is_starred"] = repo.id in starred
    if ctx.config.feature("QUOTA_MANAGEMENT"):
        item["quota_report"] = repo_quota_report(ctx, repo)
    return item


def list_repos(ctx: Ctx) -> Any:
    q = ctx.query
    if not q["namespace"] and not q["starred"] and not q["public"]:
        raise invalid_request("namespace, starred or public are required for this API call")
    user = ctx.user
    if q["starred"] and user is None:
        raise MessageError(400, BAD_JSON_MESSAGE)
    kind = q["repo_kind"]
    if kind not in REPO_KINDS:
        raise data_model_error("Unknown kind of repository" if q["starred"] else "Unknown repository kind")
    user_id = user.id if user is not None else None
    next_page: str | None = None
    if q["starred"]:
        assert user is not None
        ids = ctx.db.starred_repo_ids(user.id)
        repos = ctx.db.visible_repositories(user_id=user.id, include_public=True,
                                            see_all=can_see_everything(ctx), kind=kind, only_ids=ids)
    elif q["namespace"]:
        # A namespace listing is small, so Quay does not paginate it.
        repos = ctx.db.visible_repositories(user_id=user_id, include_public=q["public"],
                                            see_all=can_see_everything(ctx), namespace=q["namespace"], kind=kind)
    else:
        repos = ctx.db.visible_repositories(user_id=user_id, include_public=q["public"],
                                            see_all=can_see_everything(ctx), kind=kind,
                                            start_id=_page_start(ctx, q["next_page"]), limit=REPOS_PER_PAGE + 1)
        if len(repos) > REPOS_PER_PAGE:
            next_page = ctx.db.secrets.encrypt(json.dumps({"start_id": repos[REPOS_PER_PAGE].id}))
            repos = repos[:REPOS_PER_PAGE]
    starred = ctx.db.starred_repo_ids(user.id) if user is not None else None
    sums = ctx.db.repo_action_sums([r.id for r in repos]) if q["popularity"] else None
    modified = last_modified_by_repo(ctx, [r.id for r in repos]) if q["last_modified"] else None
    body: dict[str, Any] = {"repositories": [
        _list_item(ctx, r, kind, starred, sums, modified) for r in repos]}
    if next_page is not None:
        body["next_page"] = next_page
    return body


def create_repo(ctx: Ctx) -> Any:
    owner = ctx.user
    body = ctx.body
    if owner is None:
        # Quay's guard tests a string literal instead of the body, so every anonymous caller lands here.
        raise invalid_request("Must provide a namespace or must be logged in.")
    namespace_name = body.get("namespace", owner.username)
    namespace = ctx.db.user_by_name(namespace_name)
    allowed = ctx.has_full_access() or (
        namespace is not None and not namespace.robot and ctx.org_role(namespace) >= TeamRole.CREATOR)
    if not allowed or (namespace_name == owner.username and is_restricted(ctx, owner)):
        raise Unauthorized()
    if namespace is None or namespace.robot:
        raise not_found()
    name = body["repository"]
    if ctx.db.repository(namespace_name, name) is not None:
        raise invalid_request("Repository already exists")
    if not valid_repository_name(name, ctx.config.feature("EXTENDED_REPOSITORY_NAMES")):
        raise invalid_request("Invalid repository name")
    kind = body.get("repo_kind") or "image"
    repo = ctx.db.create_repository(namespace, name, visibility=body["visibility"],
                                    description=body["description"], kind=kind)
    # The creating user always gets an explicit admin row; an organization's default permissions
    # (prototypes) apply when someone creates a repository in a namespace other than their own.
    ctx.db.set_repo_user_grant(repo.id, owner.id, "admin")
    if owner.username != namespace_name:
        ctx.db.apply_default_permissions(repo, owner)
    ctx.log("create_repo", namespace=namespace, repo=repo,
            metadata={"repo": name, "namespace": namespace_name})
    return {"namespace": namespace_name, "name": name, "kind": kind}


# ---- one repository -----------------------------------------------------------------------------------


def _stats(ctx: Ctx, repo: Repository) -> list[dict[str, Any]]:
    """Daily action counts for the last three months, zero-filled, most recent day first."""
    today = now()
    counts = ctx.db.repo_action_counts(repo.id, today - timedelta(days=STATS_DAYS))
    days = [(today - timedelta(days=d)).date() for d in range(1, STATS_DAYS)]
    return [{"date": day.isoformat(), "count": counts.get(day, 0)} for day in days]


def get_repo(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    namespace = ctx.namespace
    assert namespace is not None
    user = ctx.user
    role = ctx.repo_role(repo)
    view: dict[str, Any] = {
        "namespace": repo.namespace, "name": repo.name, "kind": repo.kind, "description": repo.description,
        "is_public": repo.is_public, "is_organization": repo.namespace_is_org,
        "is_starred": ctx.db.repo_is_starred(user.id, repo.id) if user is not None else False,
        "status_token": "" if repo.is_public else repo.status_token,
        "trust_enabled": ctx.config.feature("SIGNING") and repo.trust_enabled,
        "tag_expiration_s": namespace.tag_expiration_s, "is_free_account": True, "state": repo.state,
    }
    if ctx.query["includeTags"] is not False:
        view["tags"] = repo_tag_map(ctx, repo)
    view["can_write"] = (role >= RepoRole.WRITE or ctx.has_full_access()) and repo.state == "NORMAL"
    view["can_admin"] = role >= RepoRole.ADMIN or ctx.has_full_access()
    if ctx.query["includeStats"] and repo.kind != "application":
        view["stats"] = _stats(ctx, repo)
    return view


def _names(ctx: Ctx, repository: str) -> tuple[User | None, str, str]:
    namespace_name, name = split_repository(repository)
    return ctx.namespace, namespace_name, name


def update_repo(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    description = ctx.body["description"]
    ctx.db.update_repository(repo.id, description=description)
    ctx.log("set_repo_description", namespace=ctx.namespace, repo=repo,
            metadata={"repo": repo.name, "namespace": repo.namespace, "description": description})
    return {"success": True}


def delete_repository(ctx: Ctx, repository: str) -> Any:
    namespace, namespace_name, name = _names(ctx, repository)
    # Quay answers 204 even when there is nothing to delete (the permission check already passed).
    if ctx.repo is not None:
        ctx.db.delete_repository(ctx.repo.id)
    ctx.log("delete_repo", namespace=namespace, metadata={"repo": name, "namespace": namespace_name})
    return Reply(status=204)


def change_repo_visibility(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repo
    if repo is None:
        # Quay's handler falls through without a return value here: 200 with a JSON null.
        return None
    visibility = ctx.body["visibility"]
    ctx.db.update_repository(repo.id, visibility=visibility)
    ctx.log("change_repo_visibility", namespace=ctx.namespace, repo=repo,
            metadata={"repo": repo.name, "namespace": repo.namespace, "visibility": visibility})
    return {"success": True}


def change_repo_state(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    state = ctx.body["state"]
    if state == "MIRROR" and not ctx.config.feature("REPO_MIRROR"):
        raise RawError(400, {"detail": f"Unknown Repository State: {state}"})
    ctx.db.update_repository(repo.id, state=state)
    ctx.log("change_repo_state", namespace=ctx.namespace, repo=repo,
            metadata={"repo": repo.name, "namespace": repo.namespace, "state_changed": state})
    return {"success": True}


# ---- declarations -----------------------------------------------------------------------------------------

VISIBILITY = {"type": "string", "enum": ["public", "private"],
              "description": "Who may read the repository: everyone (public) or only those granted (private)."}

NEW_REPO = Body("NewRepo", {
    "type": "object",
    "description": "A repository to create.",
    "required": ["repository", "visibility", "description"],
    "properties": {
        "repository": {"type": "string", "description": "Name of the repository (may contain slashes)."},
        "visibility": VISIBILITY,
        "namespace": {"type": "string",
                      "description": "User or organization that will own it; the caller's own by default."},
        "description": {"type": "string", "description": "Markdown text shown on the repository page."},
        "repo_kind": {"type": ["string", "null"], "enum": ["image", None],
                      "description": "What the repository holds; image when left out."},
    },
})

REPO_UPDATE = Body("RepoUpdate", {
    "type": "object",
    "description": "The editable fields of a repository.",
    "required": ["description"],
    "properties": {
        "description": {"type": "string", "description": "Markdown text shown on the repository page."},
    },
})

CHANGE_VISIBILITY = Body("ChangeVisibility", {
    "type": "object",
    "description": "A new visibility for the repository.",
    "required": ["visibility"],
    "properties": {"visibility": VISIBILITY},
})

CHANGE_STATE = Body("ChangeRepoState", {
    "type": "object",
    "description": "A new state for the repository.",
    "required": ["state"],
    "properties": {
        "state": {"type": "string", "enum": ["NORMAL", "READ_ONLY", "MIRROR"],
                  "description": "NORMAL accepts pushes, READ_ONLY refuses them, MIRROR lets only the mirror write."},
    },
})

_REPO = "/api/v1/repository/{repository}"

OPERATIONS = (
    Operation("GET", "/api/v1/repository", "listRepos", "repository",
              "List the repositories the caller can see in a namespace, among their starred ones, or in public.",
              list_repos, Scope.REPO_READ, HandlerChecks("results are filtered by what the caller may read"),
              params=(
                  query_param("next_page", "The page token from the previous answer."),
                  query_param("repo_kind", "Only repositories of this kind.", default="image"),
                  query_param("popularity", "Add each repository's recent activity figure.", "boolean",
                              default=False),
                  query_param("last_modified", "Add when each repository was last pushed to.", "boolean",
                              default=False),
                  query_param("public", "Also include public repositories.", "boolean", default=False),
                  query_param("starred", "Only repositories the caller starred.", "boolean", default=False),
                  query_param("namespace", "Only repositories of this user or organization."),
              )),
    Operation("POST", "/api/v1/repository", "createRepo", "repository",
              "Create a repository in the caller's namespace or in an organization they may create in.",
              create_repo, Scope.REPO_CREATE,
              HandlerChecks("Quay checks the create permission inside the handler, after the body"),
              body=NEW_REPO, success=201, order="validate-first"),
    Operation("GET", _REPO, "getRepo", "repository", "Describe one repository.", get_repo, Scope.REPO_READ,
              RepoPermission(RepoRole.READ, global_readonly=True),
              params=(REPOSITORY,
                      query_param("includeTags", "Include the active tags (the default).", "boolean"),
                      query_param("includeStats", "Include daily action counts.", "boolean", default=False))),
    Operation("PUT", _REPO, "updateRepo", "repository", "Change a repository's description.", update_repo,
              Scope.REPO_WRITE, RepoPermission(RepoRole.WRITE), params=(REPOSITORY,), body=REPO_UPDATE),
    Operation("DELETE", _REPO, "deleteRepository", "repository", "Delete a repository.", delete_repository,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY,), success=204),
    Operation("PUT", _REPO + "/changestate", "changeRepoState", "repository",
              "Set a repository's state (normal, read-only or mirror).", change_repo_state, Scope.REPO_ADMIN,
              REPO_ADMIN, params=(REPOSITORY,), body=CHANGE_STATE,
              feature="REPO_MIRROR"),
    Operation("POST", _REPO + "/changevisibility", "changeRepoVisibility", "repository",
              "Make a repository public or private.", change_repo_visibility, Scope.REPO_ADMIN,
              REPO_ADMIN, params=(REPOSITORY,), body=CHANGE_VISIBILITY),
)
