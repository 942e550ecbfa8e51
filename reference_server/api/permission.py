"""Per-user and per-team permissions on one repository (discovery tag `permission`)."""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Body,
    Operation,
    path_param,
)
from reference_server.core.permissions import split_repository
from reference_server.core.render import Reply, avatar
from reference_server.domain.models import Repository, Team, User
from reference_server.domain.names import split_robot_name

OWNER_MUST_BE_ADMIN = "Namespace owner must always be admin."
NO_USER_PERMISSION = "User does not have permission for repo."
NO_TEAM_PERMISSION = "Team does not have permission for repo."


def user_avatar(user: User) -> dict[str, str]:
    return avatar(user.username, user.email, "robot" if user.robot else "user")


def team_avatar(team: Team) -> dict[str, str]:
    return avatar(team.name, None, "team")


def _user_view(ctx: Ctx, repo: Repository, user: User, role: str,
               members: set[int] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"role": role, "name": user.username, "is_robot": user.robot,
                            "avatar": user_avatar(user)}
    # Only organization repositories say whether the user also sits in one of the org's teams.
    if repo.namespace_is_org:
        if members is None:
            members = ctx.db.org_member_ids(repo.namespace_id)
        view["is_org_member"] = user.robot or user.id in members
    return view


def _team_view(team: Team, role: str) -> dict[str, Any]:
    return {"role": role, "name": team.name, "avatar": team_avatar(team)}


def list_repo_team_permissions(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repo
    grants = ctx.db.repo_team_grants(repo.id) if repo is not None else []
    return {"permissions": {g.team.name: _team_view(g.team, g.role) for g in grants}}


def list_repo_user_permissions(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repo
    if repo is None:
        return {"permissions": {}}
    grants = ctx.db.repo_user_grants(repo.id)
    members = ctx.db.org_member_ids(repo.namespace_id) if repo.namespace_is_org else set()
    return {"permissions": {g.user.username: _user_view(ctx, repo, g.user, g.role, members) for g in grants}}


def get_user_transitive_permission(ctx: Ctx, repository: str, username: str) -> Any:
    user = ctx.db.user_by_name(username)
    repo = ctx.repo
    roles = ctx.db.user_repo_grant_roles(user.id, repo.id) if user is not None and repo is not None else []
    if not roles:
        raise not_found()
    return {"permissions": [{"role": role} for role in roles]}


def get_user_permissions(ctx: Ctx, repository: str, username: str) -> Any:
    repo = ctx.repo
    user = ctx.db.user_by_name(username)
    role = ctx.db.repo_user_grant(repo.id, user.id) if repo is not None and user is not None else None
    if repo is None or user is None or role is None:
        raise data_model_error(NO_USER_PERMISSION)
    return _user_view(ctx, repo, user, role)


def change_user_permissions(ctx: Ctx, repository: str, username: str) -> Any:
    namespace_name, name = split_repository(repository)
    role = ctx.body["role"]
    # Quay turns these model errors into its standard invalid_request answer (not a bare message).
    if username == namespace_name:
        raise invalid_request(OWNER_MUST_BE_ADMIN)
    user = ctx.db.user_by_name(username)
    if user is None or user.organization:
        raise invalid_request(f"Invalid username: {username}")
    if user.robot:
        parts = split_robot_name(user.username)
        if parts is None:
            raise invalid_request(f"Invalid robot: {username}")
        if parts[0] != namespace_name:
            raise invalid_request(f"Cannot add robot {username} under namespace {namespace_name}")
    repo = ctx.repository()
    ctx.db.set_repo_user_grant(repo.id, user.id, role)
    ctx.log("change_repo_permission", namespace=ctx.namespace, repo=repo,
            metadata={"username": username, "repo": name, "namespace": namespace_name, "role": role})
    return _user_view(ctx, repo, user, role)


def delete_user_permissions(ctx: Ctx, repository: str, username: str) -> Any:
    namespace_name, name = split_repository(repository)
    if username == namespace_name:
        raise invalid_request(OWNER_MUST_BE_ADMIN)
    repo = ctx.repo
    user = ctx.db.user_by_name(username)
    if repo is None or user is None or not ctx.db.delete_repo_user_grant(repo.id, user.id):
        raise invalid_request(NO_USER_PERMISSION)
    ctx.log("delete_repo_permission", namespace=ctx.namespace, repo=repo,
            metadata={"username": username, "repo": name, "namespace": namespace_name})
    return Reply(status=204)


def _team(ctx: Ctx, teamname: str) -> Team | None:
    namespace = ctx.namespace
    if namespace is None or not namespace.organization:
        return None
    return ctx.db.org_team_named(namespace.id, teamname)


def get_team_permissions(ctx: Ctx, repository: str, teamname: str) -> Any:
    repo = ctx.repo
    team = _team(ctx, teamname)
    role = ctx.db.repo_team_grant(repo.id, team.id) if repo is not None and team is not None else None
    if role is None:
        raise data_model_error(NO_TEAM_PERMISSION)
    return {"role": role}


def change_team_permissions(ctx: Ctx, repository: str, teamname: str) -> Any:
    namespace_name, name = split_repository(repository)
    role = ctx.body["role"]
    team = _team(ctx, teamname)
    if team is None:
        raise invalid_request(f"No team {teamname} in organization {namespace_name}")
    repo = ctx.repository()
    ctx.db.set_repo_team_grant(repo.id, team.id, role)
    ctx.log("change_repo_permission", namespace=ctx.namespace, repo=repo,
            metadata={"team": teamname, "repo": name, "role": role})
    return _team_view(team, role)


def delete_team_permissions(ctx: Ctx, repository: str, teamname: str) -> Any:
    _, name = split_repository(repository)
    repo = ctx.repo
    team = _team(ctx, teamname)
    if repo is None or team is None or not ctx.db.delete_repo_team_grant(repo.id, team.id):
        raise invalid_request(NO_TEAM_PERMISSION)
    ctx.log("delete_repo_permission", namespace=ctx.namespace, repo=repo,
            metadata={"team": teamname, "repo": name})
    return Reply(status=204)


ROLE_SCHEMA = {"type": "string", "enum": ["read", "write", "admin"],
               "description": "The access level to grant on the repository."}

USER_PERMISSION = Body("UserPermission", {
    "type": "object", "description": "The role a user or robot should hold on the repository.",
    "required": ["role"], "properties": {"role": ROLE_SCHEMA},
})
TEAM_PERMISSION = Body("TeamPermission", {
    "type": "object", "description": "The role a team should hold on the repository.",
    "required": ["role"], "properties": {"role": ROLE_SCHEMA},
})

USERNAME = path_param("username", "The user or robot the permission is about.")
TEAMNAME = path_param("teamname", "The team the permission is about.")
_BASE = "/api/v1/repository/{repository}/permissions"

OPERATIONS = (
    Operation("GET", _BASE + "/team/", "listRepoTeamPermissions", "permission",
              "List the teams holding a role on the repository.", list_repo_team_permissions,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY,)),
    Operation("GET", _BASE + "/team/{teamname}", "getTeamPermissions", "permission",
              "Show the role one team holds on the repository.", get_team_permissions, Scope.REPO_ADMIN,
              REPO_ADMIN_OR_GRO, params=(REPOSITORY, TEAMNAME)),
    Operation("PUT", _BASE + "/team/{teamname}", "changeTeamPermissions", "permission",
              "Grant or change a team's role on the repository.", change_team_permissions, Scope.REPO_ADMIN,
              REPO_ADMIN, params=(REPOSITORY, TEAMNAME), body=TEAM_PERMISSION),
    Operation("DELETE", _BASE + "/team/{teamname}", "deleteTeamPermissions", "permission",
              "Take a team's role on the repository away.", delete_team_permissions, Scope.REPO_ADMIN, REPO_ADMIN,
              params=(REPOSITORY, TEAMNAME), success=204),
    Operation("GET", _BASE + "/user/", "listRepoUserPermissions", "permission",
              "List the users and robots holding a direct role on the repository.", list_repo_user_permissions,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY,)),
    Operation("GET", _BASE + "/user/{username}", "getUserPermissions", "permission",
              "Show the direct role one user or robot holds on the repository.", get_user_permissions,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY, USERNAME)),
    Operation("PUT", _BASE + "/user/{username}", "changeUserPermissions", "permission",
              "Grant or change a user's or robot's direct role on the repository.", change_user_permissions,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, USERNAME), body=USER_PERMISSION),
    Operation("DELETE", _BASE + "/user/{username}", "deleteUserPermissions", "permission",
              "Take a user's or robot's direct role on the repository away.", delete_user_permissions,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, USERNAME), success=204),
    Operation("GET", _BASE + "/user/{username}/transitive", "getUserTransitivePermission", "permission",
              "List every role a user holds on the repository, directly or through teams.",
              get_user_transitive_permission, Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO,
              params=(REPOSITORY, USERNAME)),
)
