"""Robot accounts of users and organizations (discovery tag `robot`).

User robots live under the caller's own namespace; organization robots need an org role. Unknown robots are
refused with Quay's model-layer 400 `{"message"}`, not a 404.
"""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope, TeamRole, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError, Unauthorized, data_model_error, invalid_request
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    Body,
    Operation,
    OrgPermission,
    SignedIn,
    path_param,
    query_param,
)
from reference_server.core.render import avatar, format_date
from reference_server.domain.models import User
from reference_server.domain.names import namespace_error
from reference_server.storage.robots import RobotRecord

ROBOT_NOT_FOUND = "Could not find robot with specified username"
# Werkzeug's text for a bare abort(403), which Quay uses on the org robot permissions endpoint.
FORBIDDEN_MESSAGE = ("You don't have the permission to access the requested resource. It is either "
                     "read-protected or not readable by the server.")

CREATE_ROBOT = Body("CreateRobot", {
    "type": "object",
    "description": "Optional settings for a new robot account.",
    "properties": {
        "description": {"type": "string", "maxLength": 255,
                        "description": "Free text shown next to the robot."},
        "unstructured_metadata": {"type": "object",
                                  "description": "Any JSON object the caller wants kept with the robot."},
    },
}, required=False)

CREATE_ROBOT_FEDERATION = Body("CreateRobotFederation", {
    "type": "array",
    "description": "The complete list of external identities allowed to act as the robot.",
    "items": {
        "type": "object",
        "required": ["issuer", "subject"],
        "properties": {
            "issuer": {"type": "string", "description": "URL of the OIDC issuer that signs the identity tokens."},
            "subject": {"type": "string", "description": "The `sub` claim the identity tokens must carry."},
        },
    },
})

SHORTNAME = path_param("robot_shortname", "The robot's name without its namespace prefix.")
LIST_PARAMS = (
    query_param("limit", "Return at most this many robots.", "integer"),
    query_param("token", "Set to false to leave the robots' tokens out.", "boolean", default=True),
    query_param("permissions", "Also list the teams and repositories each robot belongs to.", "boolean",
                default=False),
)


# ---- views -----------------------------------------------------------------------------------------------


def robot_view(robot: RobotRecord, *, token: str | None = None, include_token: bool = False,
               include_metadata: bool = False, metadata: Any = None) -> dict[str, Any]:
    view: dict[str, Any] = {"name": robot.name, "created": format_date(robot.created),
                            "last_accessed": format_date(robot.last_accessed),
                            "description": robot.description}
    if include_token:
        view["token"] = token
    if include_metadata:
        view["unstructured_metadata"] = metadata
    return view


def robots_list(ctx: Ctx, namespace: str, include_token: bool, include_permissions: bool) -> Any:
    robots = ctx.db.list_robots(namespace, ctx.query.get("limit"))
    ids = [r.id for r in robots]
    teams = ctx.db.robot_team_names(ids) if include_permissions else {}
    repos = ctx.db.robot_repository_names(ids) if include_permissions else {}
    out = []
    for robot in robots:
        view: dict[str, Any] = {"name": robot.name, "created": format_date(robot.created),
                                "last_accessed": format_date(robot.last_accessed)}
        if include_permissions:
            view["teams"] = [{"name": n, "avatar": avatar(n, n, "team")} for n in teams[robot.id]]
            view["repositories"] = repos[robot.id]
        view["description"] = robot.description
        if include_token:
            view["token"] = ctx.db.robot_token(robot)
        out.append(view)
    return {"robots": out}


# ---- shared steps ----------------------------------------------------------------------------------------


def _refuse_restricted(ctx: Ctx, user: User) -> None:
    """FEATURE_RESTRICTED_USERS: users outside the whitelist may not manage robots of their own namespace."""
    if not ctx.config.feature("RESTRICTED_USERS") or ctx.is_superuser():
        return
    whitelist = ctx.config.restricted_users_whitelist
    if whitelist is None or user.username not in whitelist:
        raise Unauthorized()


def _find(ctx: Ctx, full_name: str) -> RobotRecord:
    robot = ctx.db.robot(full_name)
    if robot is None:
        raise data_model_error(ROBOT_NOT_FOUND)
    return robot


def _org_parent(ctx: Ctx, orgname: str) -> User:
    """Quay looks the organization up before touching its robots; a miss is a model-layer 400."""
    org = ctx.namespace
    if org is None or not org.organization:
        raise data_model_error(f"Organization does not exist: {orgname}")
    return org


def _create(ctx: Ctx, parent: User, short: str) -> Any:
    body = ctx.body or {}
    if ctx.config.raw.get("ROBOTS_DISALLOW"):
        raise invalid_request("Robot accounts have been disabled. Please contact your administrator.")
    problem = namespace_error(short)
    if problem:
        raise invalid_request(f"The name for the robot '{short}' is invalid: {problem}")
    full_name = f"{parent.username}+{short}"
    if ctx.db.user_by_name(full_name) is not None:
        raise invalid_request(f"Existing robot with name: {full_name}")
    description = body.get("description") or ""
    metadata = body.get("unstructured_metadata")
    robot, token = ctx.db.create_robot(full_name, description, metadata)
    ctx.log("create_robot", namespace=parent, metadata={
        "robot": short, "description": body.get("description"), "unstructured_metadata": metadata})
    # The creation answer echoes the metadata as sent (null when absent); later reads show the stored {}.
    return robot_view(robot, token=token, include_token=True, include_metadata=True, metadata=metadata)


def _delete(ctx: Ctx, parent: User, short: str) -> None:
    full_name = f"{parent.username}+{short}"
    robot = ctx.db.robot(full_name)
    if robot is None:
        raise data_model_error(f"Could not find robot with username: {full_name}")
    ctx.db.delete_robot(robot.id)
    ctx.log("delete_robot", namespace=parent, metadata={"robot": short})


def _regenerate(ctx: Ctx, parent: User, short: str) -> Any:
    robot = _find(ctx, f"{parent.username}+{short}")
    token = ctx.db.regenerate_robot_token(robot)
    ctx.log("regenerate_robot_token", namespace=parent, metadata={"robot": short})
    return robot_view(robot, token=token, include_token=True)


def _permissions(ctx: Ctx, robot: RobotRecord) -> Any:
    return {"permissions": [
        {"repository": {"name": g.repository, "is_public": g.visibility == "public"}, "role": g.role}
        for g in ctx.db.robot_grants(robot.id)
    ]}


def _parse_federation(body: Any) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in body:
        issuer, subject = item.get("issuer"), item.get("subject")
        if not issuer or not subject:
            raise invalid_request("Missing one or more required fields (issuer, subject)")
        if not issuer.startswith(("http://", "https://")):
            raise invalid_request("Issuer must be a URL (http:// or https://)")
        if (issuer, subject) in seen:
            raise invalid_request("Duplicate federation config entry")
        seen.add((issuer, subject))
        entries.append({"issuer": issuer, "subject": subject})
    return entries


def _set_federation(ctx: Ctx, parent: User, short: str) -> Any:
    entries = _parse_federation(ctx.body)
    robot = _find(ctx, f"{parent.username}+{short}")
    ctx.db.set_robot_federation(robot.id, entries)
    ctx.log("create_robot_federation", namespace=parent, metadata={"config": entries, "robot": short})
    return entries


def _delete_federation(ctx: Ctx, parent: User, short: str) -> None:
    robot = _find(ctx, f"{parent.username}+{short}")
    ctx.db.set_robot_federation(robot.id, [])
    ctx.log("delete_robot_federation", namespace=parent, metadata={"robot": short})


# ---- user robots -----------------------------------------------------------------------------------------


def get_user_robots(ctx: Ctx) -> Any:
    user = ctx.require_user()
    return robots_list(ctx, user.username, bool(ctx.query["token"]), bool(ctx.query["permissions"]))


def get_user_robot(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    robot = _find(ctx, f"{user.username}+{robot_shortname}")
    return robot_view(robot, token=ctx.db.robot_token(robot), include_token=True, include_metadata=True,
                      metadata=robot.unstructured_metadata)


def create_user_robot(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    _refuse_restricted(ctx, user)
    return _create(ctx, user, robot_shortname)


def delete_user_robot(ctx: Ctx, robot_shortname: str) -> None:
    user = ctx.require_user()
    _refuse_restricted(ctx, user)
    _delete(ctx, user, robot_shortname)


def get_user_robot_permissions(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    return _permissions(ctx, _find(ctx, f"{user.username}+{robot_shortname}"))


def regenerate_user_robot_token(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    _refuse_restricted(ctx, user)
    return _regenerate(ctx, user, robot_shortname)


def get_user_robot_federation(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    return ctx.db.robot_federation(_find(ctx, f"{user.username}+{robot_shortname}").id)


def create_user_robot_federation(ctx: Ctx, robot_shortname: str) -> Any:
    user = ctx.require_user()
    _refuse_restricted(ctx, user)
    return _set_federation(ctx, user, robot_shortname)


def delete_user_robot_federation(ctx: Ctx, robot_shortname: str) -> None:
    user = ctx.require_user()
    _refuse_restricted(ctx, user)
    _delete_federation(ctx, user, robot_shortname)


# ---- organization robots ---------------------------------------------------------------------------------


def get_org_robots(ctx: Ctx, orgname: str) -> Any:
    # Members may list; only admins (and full-access superusers) see tokens; the global read-only
    # superuser may also see the teams and repositories.
    is_admin = ctx.is_org_admin(ctx.namespace)
    include_token = is_admin and bool(ctx.query["token"])
    include_permissions = (is_admin or ctx.is_global_readonly()) and bool(ctx.query["permissions"])
    return robots_list(ctx, orgname, include_token, include_permissions)


def get_org_robot(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    org = _org_parent(ctx, orgname)
    robot = _find(ctx, f"{org.username}+{robot_shortname}")
    include_token = ctx.is_org_admin(org)
    return robot_view(robot, token=ctx.db.robot_token(robot) if include_token else None,
                      include_token=include_token, include_metadata=True, metadata=robot.unstructured_metadata)


def create_org_robot(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    return _create(ctx, _org_parent(ctx, orgname), robot_shortname)


def delete_org_robot(ctx: Ctx, orgname: str, robot_shortname: str) -> None:
    # Quay deletes by full name without looking the organization up first.
    parent = ctx.namespace
    if parent is None:
        raise data_model_error(f"Could not find robot with username: {orgname}+{robot_shortname}")
    _delete(ctx, parent, robot_shortname)


def get_org_robot_permissions(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    ctx.namespace = ctx.db.user_by_name(orgname)
    allowed = ctx.is_org_admin(ctx.namespace) or ctx.is_global_readonly()
    if not allowed:
        raise MessageError(403, FORBIDDEN_MESSAGE)
    org = _org_parent(ctx, orgname)
    return _permissions(ctx, _find(ctx, f"{org.username}+{robot_shortname}"))


def regenerate_org_robot_token(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    return _regenerate(ctx, _org_parent(ctx, orgname), robot_shortname)


def get_org_robot_federation(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    return ctx.db.robot_federation(_find(ctx, f"{orgname}+{robot_shortname}").id)


def create_org_robot_federation(ctx: Ctx, orgname: str, robot_shortname: str) -> Any:
    entries = _parse_federation(ctx.body)
    robot = _find(ctx, f"{orgname}+{robot_shortname}")
    ctx.db.set_robot_federation(robot.id, entries)
    ctx.log("create_robot_federation", namespace=ctx.namespace,
            metadata={"config": entries, "robot": robot_shortname})
    return entries


def delete_org_robot_federation(ctx: Ctx, orgname: str, robot_shortname: str) -> None:
    robot = _find(ctx, f"{orgname}+{robot_shortname}")
    ctx.db.set_robot_federation(robot.id, [])
    ctx.log("delete_robot_federation", namespace=ctx.namespace, metadata={"robot": robot_shortname})


USER_ADMIN = SignedIn(UserRole.ADMIN)
_USER_ROBOT = "/api/v1/user/robots/{robot_shortname}"
_ORG_ROBOT = "/api/v1/organization/{orgname}/robots/{robot_shortname}"
_ORG_PARAMS = (ORGNAME, SHORTNAME)

OPERATIONS = (
    # User robots: Quay checks the caller before reading the body.
    Operation("GET", "/api/v1/user/robots", "getUserRobots", "robot",
              "List the signed-in user's robot accounts.", get_user_robots, Scope.USER_ADMIN, USER_ADMIN,
              params=LIST_PARAMS),
    Operation("GET", _USER_ROBOT, "getUserRobot", "robot",
              "Show one robot account of the signed-in user, with its token.", get_user_robot,
              Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,)),
    Operation("PUT", _USER_ROBOT, "createUserRobot", "robot",
              "Create a robot account under the signed-in user's namespace.", create_user_robot,
              Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,), body=CREATE_ROBOT, success=201),
    Operation("DELETE", _USER_ROBOT, "deleteUserRobot", "robot",
              "Delete one of the signed-in user's robot accounts.", delete_user_robot,
              Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,), success=204),
    Operation("GET", _USER_ROBOT + "/permissions", "getUserRobotPermissions", "robot",
              "List the repository permissions held by one of the user's robots.", get_user_robot_permissions,
              Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,)),
    Operation("POST", _USER_ROBOT + "/regenerate", "regenerateUserRobotToken", "robot",
              "Replace the token of one of the user's robots and return the new one.",
              regenerate_user_robot_token, Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,)),
    Operation("GET", _USER_ROBOT + "/federation", "getUserRobotFederation", "robot",
              "List the external identities that may act as one of the user's robots.",
              get_user_robot_federation, Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,)),
    Operation("POST", _USER_ROBOT + "/federation", "createUserRobotFederation", "robot",
              "Replace the external identities that may act as one of the user's robots.",
              create_user_robot_federation, Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,),
              body=CREATE_ROBOT_FEDERATION),
    Operation("DELETE", _USER_ROBOT + "/federation", "deleteUserRobotFederation", "robot",
              "Remove every external identity from one of the user's robots.", delete_user_robot_federation,
              Scope.USER_ADMIN, USER_ADMIN, params=(SHORTNAME,), success=204),
    # Organization robots: Quay decides inside the handler, so the body is validated first.
    Operation("GET", "/api/v1/organization/{orgname}/robots", "getOrgRobots", "robot",
              "List an organization's robot accounts.", get_org_robots, Scope.ORG_ADMIN,
              OrgPermission(TeamRole.MEMBER, global_readonly=True), params=(ORGNAME, *LIST_PARAMS),
              order="validate-first"),
    Operation("GET", _ORG_ROBOT, "getOrgRobot", "robot",
              "Show one robot account of an organization.", get_org_robot, Scope.ORG_ADMIN,
              ORG_ADMIN_OR_GRO, params=_ORG_PARAMS, order="validate-first"),
    Operation("PUT", _ORG_ROBOT, "createOrgRobot", "robot",
              "Create a robot account in an organization.", create_org_robot, Scope.ORG_ADMIN, ORG_ADMIN,
              params=_ORG_PARAMS, body=CREATE_ROBOT, success=201, order="validate-first"),
    Operation("DELETE", _ORG_ROBOT, "deleteOrgRobot", "robot",
              "Delete a robot account of an organization.", delete_org_robot, Scope.ORG_ADMIN, ORG_ADMIN,
              params=_ORG_PARAMS, success=204, order="validate-first"),
    Operation("GET", _ORG_ROBOT + "/permissions", "getOrgRobotPermissions", "robot",
              "List the repository permissions held by an organization's robot.", get_org_robot_permissions,
              Scope.USER_ADMIN, USER_ADMIN, params=_ORG_PARAMS, order="validate-first"),
    Operation("POST", _ORG_ROBOT + "/regenerate", "regenerateOrgRobotToken", "robot",
              "Replace the token of an organization's robot and return the new one.",
              regenerate_org_robot_token, Scope.ORG_ADMIN, ORG_ADMIN, params=_ORG_PARAMS,
              order="validate-first"),
    Operation("GET", _ORG_ROBOT + "/federation", "getOrgRobotFederation", "robot",
              "List the external identities that may act as an organization's robot.",
              get_org_robot_federation, Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=_ORG_PARAMS,
              order="validate-first"),
    Operation("POST", _ORG_ROBOT + "/federation", "createOrgRobotFederation", "robot",
              "Replace the external identities that may act as an organization's robot.",
              create_org_robot_federation, Scope.ORG_ADMIN, ORG_ADMIN, params=_ORG_PARAMS,
              body=CREATE_ROBOT_FEDERATION, order="validate-first"),
    Operation("DELETE", _ORG_ROBOT + "/federation", "deleteOrgRobotFederation", "robot",
              "Remove every external identity from an organization's robot.", delete_org_robot_federation,
              Scope.ORG_ADMIN, ORG_ADMIN, params=_ORG_PARAMS, success=204, order="validate-first"),
)
