"""Default permissions ("prototypes") an organization grants on repositories created in it (tag `prototype`)."""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    Body,
    Operation,
    path_param,
)
from reference_server.core.render import Reply, avatar
from reference_server.domain.models import Team, User
from reference_server.storage.orgs import Prototype

PROTOTYPE_ID = path_param("prototypeid", "The id of the default permission.")
ROLE = {"type": "string", "enum": ["read", "write", "admin"],
        "description": "The repository role the default permission grants."}

NEW_PROTOTYPE = Body("NewPrototype", {
    "type": "object",
    "description": "A default permission applied to repositories created in the organization.",
    "required": ["role", "delegate"],
    "properties": {
        "role": ROLE,
        "activating_user": {
            "type": "object",
            "description": "Apply only when this user creates the repository; any creator when absent.",
            "required": ["name"],
            "properties": {"name": {"type": "string", "description": "The creating user's name."}},
        },
        "delegate": {
            "type": "object",
            "description": "The user or team that receives the role.",
            "required": ["name", "kind"],
            "properties": {
                "name": {"type": "string", "description": "Name of the user or team."},
                "kind": {"type": "string", "enum": ["user", "team"],
                         "description": "Whether name is a user or a team."},
            },
        },
    },
})

PROTOTYPE_UPDATE = Body("PrototypeUpdate", {
    "type": "object",
    "description": "The new role of a default permission.",
    "required": ["role"],
    "properties": {"role": ROLE},
})


def _prototype_view(ctx: Ctx, proto: Prototype, org: User) -> dict[str, Any]:
    members = {user.username for user, _ in ctx.db.org_memberships(org.id)}

    def user_view(user: User) -> dict[str, Any]:
        return {"name": user.username, "is_robot": user.robot, "kind": "user",
                "is_org_member": user.robot or user.username in members,
                "avatar": avatar(user.username, user.email, "robot" if user.robot else "user")}

    if proto.delegate_user is not None:
        delegate = user_view(proto.delegate_user)
    else:
        team = proto.delegate_team
        assert team is not None
        delegate = {"name": team.name, "kind": "team", "avatar": avatar(team.name, team.name, "team")}
    return {
        "activating_user": user_view(proto.activating_user) if proto.activating_user else None,
        "delegate": delegate,
        "role": proto.role,
        "id": proto.uuid,
    }


def _log(ctx: Ctx, kind: str, org: User, proto: Prototype, **extra: Any) -> None:
    caller = ctx.require_user()
    metadata: dict[str, Any] = {
        "prototypeid": proto.uuid, "username": caller.username,
        "activating_username": proto.activating_user.username if proto.activating_user else None,
        "role": proto.role, **extra,
    }
    if proto.delegate_user is not None:
        metadata["delegate_user"] = proto.delegate_user.username
    elif proto.delegate_team is not None:
        metadata["delegate_team"] = proto.delegate_team.name
    ctx.log(kind, namespace=org, metadata=metadata)


def _user(ctx: Ctx, name: str) -> User | None:
    found = ctx.db.user_by_name(name)
    return found if found is not None and not found.organization else None


def get_organization_prototype_permissions(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    return {"prototypes": [_prototype_view(ctx, p, org) for p in ctx.db.prototypes(org.id)]}


def create_organization_prototype_permission(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    body: dict[str, Any] = ctx.body
    activating_name = (body.get("activating_user") or {}).get("name")
    delegate = body["delegate"]
    activating = _user(ctx, activating_name) if activating_name else None
    delegate_user = _user(ctx, delegate["name"]) if delegate["kind"] == "user" else None
    delegate_team: Team | None = None
    if delegate["kind"] == "team":
        delegate_team = ctx.db.team(org.id, delegate["name"])
        if delegate_team is None:
            # Quay's exception for a missing team carries its arguments unformatted; this is its text.
            raise data_model_error(str(("Team does not exist: %s/%s", orgname, delegate["name"])))
    if activating_name and activating is None:
        raise invalid_request("Unknown activating user")
    if delegate_user is None and delegate_team is None:
        raise invalid_request("Missing delegate user or team")
    proto = ctx.db.create_prototype(org.id, body["role"], activating, delegate_user, delegate_team)
    _log(ctx, "create_prototype_permission", org, proto)
    return _prototype_view(ctx, proto, org)


def update_organization_prototype_permission(ctx: Ctx, orgname: str, prototypeid: str) -> Any:
    org = ctx.org()
    existing = ctx.db.prototype(org.id, prototypeid)
    if existing is None:
        raise not_found()
    ctx.db.set_prototype_role(existing.id, ctx.body["role"])
    proto = ctx.db.prototype(org.id, prototypeid)
    assert proto is not None
    _log(ctx, "modify_prototype_permission", org, proto, original_role=existing.role)
    return _prototype_view(ctx, proto, org)


def delete_organization_prototype_permission(ctx: Ctx, orgname: str, prototypeid: str) -> Any:
    org = ctx.org()
    proto = ctx.db.prototype(org.id, prototypeid)
    if proto is None:
        raise not_found()
    ctx.db.delete_prototype(proto.id)
    _log(ctx, "delete_prototype_permission", org, proto)
    return Reply(status=204)


PATH = "/api/v1/organization/{orgname}/prototypes"

OPERATIONS = (
    Operation("GET", PATH, "getOrganizationPrototypePermissions", "prototype",
              "List an organization's default repository permissions.", get_organization_prototype_permissions,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,)),
    Operation("POST", PATH, "createOrganizationPrototypePermission", "prototype",
              "Add a default permission for repositories created in an organization.",
              create_organization_prototype_permission, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME,),
              body=NEW_PROTOTYPE, order="validate-first"),
    Operation("PUT", PATH + "/{prototypeid}", "updateOrganizationPrototypePermission", "prototype",
              "Change the role a default permission grants.", update_organization_prototype_permission,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, PROTOTYPE_ID), body=PROTOTYPE_UPDATE,
              order="validate-first"),
    Operation("DELETE", PATH + "/{prototypeid}", "deleteOrganizationPrototypePermission", "prototype",
              "Remove a default permission.", delete_organization_prototype_permission, Scope.ORG_ADMIN, ORG_ADMIN,
              params=(ORGNAME, PROTOTYPE_ID), success=204),
)
