"""Teams of an organization, their members and invitations (discovery tag `team`).

Quay's model layer refuses most bad team operations with a 400 `{"message"}` (unknown team on delete,
duplicate member, last admin team), while a missing team on the member endpoints is a 404.
"""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope, TeamRole, UserRole, team_cap
from reference_server.auth.secrets import new_code
from reference_server.core.context import Ctx
from reference_server.core.errors import Unauthorized, data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    Body,
    HandlerChecks,
    Operation,
    SignedIn,
    path_param,
    query_param,
)
from reference_server.core.render import Reply, avatar
from reference_server.domain.models import Team, User
from reference_server.domain.names import NAMESPACE_PATTERN, namespace_error
from reference_server.storage.base import TEAM_ROLE
from reference_server.storage.teams import TeamInvite

TEAMNAME = path_param("teamname", "The name of the team.")
MEMBERNAME = path_param("membername", "The user or robot name of the member.")
EMAIL = path_param("email", "The e-mail address invited to join.")
CODE = path_param("code", "The invitation code sent to the invitee.")

TEAM_DESCRIPTION = Body("TeamDescription", {
    "type": "object",
    "description": "The organization-wide role and the description of a team.",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["member", "creator", "admin"],
                 "description": "What the team's members may do across the organization."},
        "description": {"type": "string", "description": "Free text (Markdown) describing the team."},
    },
})


# ---- views -------------------------------------------------------------------------------------------------


def _user_view(user: User, invited: bool) -> dict[str, Any]:
    return {"name": user.username, "kind": "user", "is_robot": user.robot,
            "avatar": avatar(user.username, user.email, "robot" if user.robot else "user"), "invited": invited}


def _invite_view(invite: TeamInvite) -> dict[str, Any]:
    if invite.user is not None:
        return _user_view(invite.user, invited=True)
    return {"email": invite.email, "kind": "invite", "avatar": avatar(invite.email or "", invite.email, "user"),
            "invited": True}


def _can_view_team(ctx: Ctx, org: User | None, team: Team) -> bool:
    """Quay's view-team permission: org admins, and members of the team itself (after the scope cap)."""
    if org is None:
        return False
    if ctx.is_org_admin(org):
        return True
    user = ctx.user
    if user is None or not ctx.db.is_team_member(team.id, user.id):
        return False
    return min(TEAM_ROLE[team.role], team_cap(ctx.identity.scopes)) >= TeamRole.MEMBER


def _team_view(ctx: Ctx, team: Team, new_team: bool) -> dict[str, Any]:
    return {"name": team.name, "description": team.description, "can_view": _can_view_team(ctx, ctx.namespace, team),
            "role": team.role, "avatar": avatar(team.name, team.name, "team"), "new_team": new_team}


def _team_or_404(ctx: Ctx, teamname: str) -> Team:
    org = ctx.namespace
    team = ctx.db.team(org.id, teamname) if org is not None and org.organization else None
    if team is None:
        raise not_found()
    return team


def _team_name_problem(name: str) -> str | None:
    problem = namespace_error(name)
    if problem is None:
        return None
    if problem.startswith("Namespace must match"):
        return f"Namespace must match expression {NAMESPACE_PATTERN}"
    return "Team must be between 2 and 255 characters in length"


# ---- teams -------------------------------------------------------------------------------------------------


def update_organization_team(ctx: Ctx, orgname: str, teamname: str) -> Any:
    body: dict[str, Any] = ctx.body
    org = ctx.namespace
    team = ctx.db.team(org.id, teamname) if org is not None and org.organization else None
    if team is None:
        # Creating: Quay looks the organization up without catching, so a missing one is a model error.
        if org is None or not org.organization:
            raise data_model_error(f"Organization does not exist: {orgname}")
        problem = _team_name_problem(teamname)
        if problem:
            raise data_model_error(f"Invalid team name {teamname}: {problem}")
        team = ctx.db.create_team(org.id, teamname, body.get("role", "member"), body.get("description", ""))
        ctx.log("org_create_team", namespace=org, metadata={"team": teamname})
        return _team_view(ctx, team, new_team=True)
    assert org is not None
    if "description" in body and body["description"] != team.description:
        team = ctx.db.update_team(team.id, description=body["description"])
        ctx.log("org_set_team_description", namespace=org,
                metadata={"team": teamname, "description": team.description})
    if "role" in body and body["role"] != team.role:
        caller = ctx.require_user()
        if team.role == "admin":
            # The caller may not strip admin from their last admin team.
            admin_teams = ctx.db.user_admin_team_names(org.id, caller.id)
            if team.name in admin_teams and len(admin_teams) <= 1:
                raise data_model_error(f"Cannot remove admin from team '{team.name}' because calling user would "
                                       f"no longer have admin on org '{orgname}'")
        team = ctx.db.update_team(team.id, role=body["role"])
        ctx.log("org_set_team_role", namespace=org, metadata={"team": teamname, "role": body["role"]})
    return _team_view(ctx, team, new_team=False)


def delete_organization_team(ctx: Ctx, orgname: str, teamname: str) -> Any:
    org = ctx.namespace
    team = ctx.db.team(org.id, teamname) if org is not None and org.organization else None
    if org is None or team is None:
        raise data_model_error(f"Team '{teamname}' is not a team in org '{orgname}'")
    caller = ctx.require_user()
    if team.role == "admin":
        admin_teams = ctx.db.user_admin_team_names(org.id, caller.id)
        if admin_teams == {team.name}:
            raise data_model_error(f"Deleting team '{teamname}' would remove admin ability for user "
                                   f"'{caller.username}' in organization '{orgname}'")
    ctx.db.delete_team(team.id)
    ctx.log("org_delete_team", namespace=org, metadata={"team": teamname})
    return Reply(status=204)


# ---- members -----------------------------------------------------------------------------------------------


def get_organization_team_members(ctx: Ctx, orgname: str, teamname: str) -> Any:
    org = ctx.db.user_by_name(orgname)
    ctx.namespace = org
    team = ctx.db.team(org.id, teamname) if org is not None and org.organization else None
    # Organization admins may look even when the team does not exist (then they get 404).
    allowed = ctx.is_global_readonly() or (org is not None and ctx.is_org_admin(org)) or (
        team is not None and _can_view_team(ctx, org, team))
    if not allowed:
        raise Unauthorized()
    if team is None:
        raise not_found()
    can_edit = org is not None and ctx.is_org_admin(org)
    members = [_user_view(member, invited=False) for member in ctx.db.team_members(team.id)]
    if ctx.query.get("includePending") and can_edit:
        members += [_invite_view(invite) for invite in ctx.db.team_invites(team.id)]
    return {"name": teamname, "members": members, "can_edit": can_edit}


def _invite(ctx: Ctx, team: Team, orgname: str, user: User | None, email: str | None) -> None:
    """Record an invitation; the code reaches the invitee by notification and (recorded) e-mail only."""
    inviter = ctx.require_user()
    code = new_code()
    ctx.db.create_team_invite(team.id, user_id=user.id if user else None, email=None if user else email,
                              inviter_id=inviter.id, code_hash=ctx.db.secrets.token_hash(code))
    if user is not None:
        ctx.db.create_notification(user.id, "org_team_invite", {
            "code": code, "inviter": inviter.username, "org": orgname, "team": team.name})
    recipient = user.email if user is not None else email
    if recipient:
        ctx.db.record_mail("org_team_invite", recipient, {
            "invitee": user.username if user else email, "org": orgname, "team": team.name,
            "inviter": inviter.username, "code": code})


def update_organization_team_member(ctx: Ctx, orgname: str, teamname: str, membername: str) -> Any:
    team = _team_or_404(ctx, teamname)
    org = ctx.namespace
    assert org is not None
    user = ctx.db.user_by_name(membername)
    if user is None or user.organization:
        raise invalid_request("Unknown user")
    requires_invite = ctx.config.feature("MAILING") and ctx.config.feature("REQUIRE_TEAM_INVITE")
    if user.robot:
        # Robots join directly, but only the organization's own.
        requires_invite = False
        if not user.username.startswith(orgname + "+"):
            raise data_model_error("Cannot add the specified robot to this team, as it is not a member "
                                   "of the organization")
    elif requires_invite:
        requires_invite = not ctx.db.is_org_member(org.id, user.id)
    if requires_invite:
        _invite(ctx, team, orgname, user, None)
        ctx.log("org_invite_team_member", namespace=org,
                metadata={"user": membername, "member": membername, "team": teamname})
        return _user_view(user, invited=True)
    if ctx.db.is_team_member(team.id, user.id):
        raise data_model_error(f"User {user.username} is already a member of team {team.name}")
    ctx.db.add_team_member(team.id, user.id)
    ctx.log("org_add_team_member", namespace=org, metadata={"member": membername, "team": teamname})
    return _user_view(user, invited=False)


def delete_organization_team_member(ctx: Ctx, orgname: str, teamname: str, membername: str) -> Any:
    caller = ctx.require_user()
    team = _team_or_404(ctx, teamname)
    org = ctx.namespace
    assert org is not None
    member = ctx.db.user_by_name(membername)
    if member is None or member.organization:
        raise not_found()
    # A pending invitation goes first; only without one is the membership itself removed.
    if ctx.db.delete_user_invite(team.id, member.id):
        ctx.log("org_delete_team_member_invite", namespace=org,
                metadata={"user": membername, "team": teamname, "member": membername})
        return Reply(status=204)
    if not ctx.db.is_team_member(team.id, member.id):
        raise data_model_error(f"User {membername} does not belong to team {teamname}")
    if member.id == caller.id:
        admin_teams = ctx.db.user_admin_team_names(org.id, caller.id)
        if team.name in admin_teams and len(admin_teams) <= 1:
            raise data_model_error("User cannot remove themselves from their only admin team.")
    ctx.db.remove_team_member(team.id, member.id)
    ctx.log("org_remove_team_member", namespace=org, metadata={"member": membername, "team": teamname})
    return Reply(status=204)


def invite_team_member_email(ctx: Ctx, orgname: str, teamname: str, email: str) -> Any:
    team = _team_or_404(ctx, teamname)
    _invite(ctx, team, orgname, None, email)
    ctx.log("org_invite_team_member", namespace=ctx.namespace,
            metadata={"email": email, "team": teamname, "member": email})
    return {"email": email, "kind": "invite", "avatar": avatar(email, email, "user"), "invited": True}


def delete_team_member_email_invite(ctx: Ctx, orgname: str, teamname: str, email: str) -> Any:
    team = _team_or_404(ctx, teamname)
    if not ctx.db.delete_email_invite(team.id, email):
        raise not_found()
    ctx.log("org_delete_team_member_invite", namespace=ctx.namespace,
            metadata={"email": email, "team": teamname, "member": email})
    return Reply(status=204)


def get_organization_team_permissions(ctx: Ctx, orgname: str, teamname: str) -> Any:
    team = _team_or_404(ctx, teamname)
    return {"permissions": [{"repository": {"name": name, "is_public": public}, "role": role}
                            for name, public, role in ctx.db.team_repo_permissions(team.id)]}


# ---- invitations, seen from the invitee ---------------------------------------------------------------------

INVALID_CODE = "Invalid confirmation code."


def accept_organization_team_invite(ctx: Ctx, code: str) -> Any:
    user = ctx.require_user()
    found = ctx.db.invite_by_code_hash(ctx.db.secrets.token_hash(code))
    if found is None:
        raise data_model_error(INVALID_CODE)
    # Quay's messages here carry the source's odd line break and indentation; clients match the status.
    if found.user is not None and found.user.id != user.id:
        raise data_model_error(f'This invite is intended for user "{found.user.username}".\n'
                               "                 Please login to that account and try again.")
    invites = ctx.db.org_invites_for(found.team.org_id, user)
    if not invites:
        raise data_model_error(f'This invite is intended for email "{found.email}".\n'
                               "                   Please login to that account and try again.")
    # Accepting one invite accepts every invite of the same organization addressed to the user.
    for invite in invites:
        if not ctx.db.is_team_member(invite.team.id, user.id):
            ctx.db.add_team_member(invite.team.id, user.id)
        ctx.db.delete_team_invite(invite.id)
    org = ctx.db.user_by_id(found.team.org_id)
    assert org is not None
    ctx.db.delete_notifications(user.id, "org_team_invite", org=org.username)
    inviter = ctx.db.user_by_id(found.inviter_id)
    ctx.log("org_team_member_invite_accepted", namespace=org, metadata={
        "member": user.username, "team": found.team.name, "inviter": inviter.username if inviter else None})
    return {"org": org.username, "team": found.team.name}


def decline_organization_team_invite(ctx: Ctx, code: str) -> Any:
    user = ctx.require_user()
    found = ctx.db.invite_by_code_hash(ctx.db.secrets.token_hash(code))
    # Only invites addressed to the caller by account can be declined, as in Quay.
    if found is None or found.user is None or found.user.id != user.id:
        raise data_model_error(INVALID_CODE)
    ctx.db.delete_team_invite(found.id)
    ctx.db.delete_notifications(user.id, "org_team_invite", code=code)
    org = ctx.db.user_by_id(found.team.org_id)
    inviter = ctx.db.user_by_id(found.inviter_id)
    ctx.log("org_team_member_invite_declined", namespace=org, metadata={
        "member": user.username, "team": found.team.name, "inviter": inviter.username if inviter else None})
    return Reply(status=204)


TEAM_PATH = "/api/v1/organization/{orgname}/team/{teamname}"

OPERATIONS = (
    Operation("PUT", TEAM_PATH, "updateOrganizationTeam", "team",
              "Create a team or change its role and description.", update_organization_team, Scope.ORG_ADMIN,
              ORG_ADMIN, params=(ORGNAME, TEAMNAME), body=TEAM_DESCRIPTION, order="validate-first"),
    Operation("DELETE", TEAM_PATH, "deleteOrganizationTeam", "team",
              "Delete a team of an organization.", delete_organization_team, Scope.ORG_ADMIN, ORG_ADMIN,
              params=(ORGNAME, TEAMNAME), success=204),
    Operation("GET", TEAM_PATH + "/members", "getOrganizationTeamMembers", "team",
              "List a team's members, and for admins its pending invitations.", get_organization_team_members,
              Scope.ORG_ADMIN, HandlerChecks("team members may list their own team, which no org role expresses"),
              params=(ORGNAME, TEAMNAME, query_param(
                  "includePending", "Also list pending invitations (admins only).", "boolean", default=False))),
    Operation("PUT", TEAM_PATH + "/members/{membername}", "updateOrganizationTeamMember", "team",
              "Add a member to a team, or invite them when they are new to the organization.",
              update_organization_team_member, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, TEAMNAME, MEMBERNAME)),
    Operation("DELETE", TEAM_PATH + "/members/{membername}", "deleteOrganizationTeamMember", "team",
              "Remove a member from a team, or cancel their pending invitation.", delete_organization_team_member,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, TEAMNAME, MEMBERNAME), success=204),
    Operation("PUT", TEAM_PATH + "/invite/{email}", "inviteTeamMemberEmail", "team",
              "Invite an e-mail address to join a team.", invite_team_member_email, Scope.ORG_ADMIN, ORG_ADMIN,
              params=(ORGNAME, TEAMNAME, EMAIL), feature="MAILING"),
    Operation("DELETE", TEAM_PATH + "/invite/{email}", "deleteTeamMemberEmailInvite", "team",
              "Cancel the invitation of an e-mail address to a team.", delete_team_member_email_invite,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, TEAMNAME, EMAIL), success=204, feature="MAILING"),
    # Quay attaches no scope metadata here; the org-admin check still caps tokens at org:admin.
    Operation("GET", TEAM_PATH + "/permissions", "getOrganizationTeamPermissions", "team",
              "List the repository permissions granted to a team.", get_organization_team_permissions, None,
              ORG_ADMIN_OR_GRO, params=(ORGNAME, TEAMNAME),
              extra={"no_scope_metadata": True}),
    Operation("PUT", "/api/v1/teaminvite/{code}", "acceptOrganizationTeamInvite", "team",
              "Accept an invitation to join a team.", accept_organization_team_invite, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), params=(CODE,), internal=True, feature="MAILING"),
    Operation("DELETE", "/api/v1/teaminvite/{code}", "declineOrganizationTeamInvite", "team",
              "Decline an invitation to join a team.", decline_organization_team_invite, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), params=(CODE,), success=204, internal=True, feature="MAILING"),
)
