"""Organizations, their members and their OAuth applications (discovery tag `organization`).

Quay checks organization permissions inside the handlers, after validating the body, so bad input from an
outsider gets 400 before 403. An unknown organization gives outsiders 403 and admins/SU-FA 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from reference_server.api.namespacequota import quota_fields
from reference_server.auth.scopes import Scope, TeamRole, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import Unauthorized, data_model_error, invalid_request, not_found
from reference_server.core.operation import (
    ORG_ADMIN,
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    Anyone,
    Body,
    Operation,
    SignedIn,
    path_param,
)
from reference_server.core.render import Reply, avatar
from reference_server.domain.models import Team, User
from reference_server.domain.names import namespace_error, split_robot_name, valid_email
from reference_server.storage.apps import Application
from reference_server.storage.teams import TeamSummary

CLIENT_ID = path_param("client_id", "The OAuth client id of the application.")
MEMBERNAME = path_param("membername", "The user name of the member.")

# Quay reserves this application name for the bootstrap-token machinery.
BOOTSTRAP_APP_NAME = "__quay_bootstrap_app"


# ---- shared views ----------------------------------------------------------------------------------------


def team_avatar(team: Team) -> dict[str, str]:
    # Quay derives a team's avatar from its name alone.
    return avatar(team.name, team.name, "team")


def user_avatar(user: User) -> dict[str, str]:
    # Organizations too are shown with the `user` kind here, as Quay does.
    return avatar(user.username, user.email, "robot" if user.robot else "user")


def _is_member(ctx: Ctx, org: User) -> bool:
    return ctx.org_role(org) >= TeamRole.MEMBER or ctx.has_full_access()


def _sees_as_superuser(ctx: Ctx) -> bool:
    return ctx.is_global_readonly() or ctx.has_full_access()


def org_view(ctx: Ctx, org: User, teams: list[TeamSummary] | None) -> dict[str, Any]:
    """What a caller may see of an organization: e-mail and settings for admins, teams for members."""
    is_admin = ctx.is_org_admin(org)
    is_member = _is_member(ctx, org)
    view: dict[str, Any] = {
        "name": org.username,
        "email": org.email if is_admin or _sees_as_superuser(ctx) else "",
        "avatar": user_avatar(org),
        "is_admin": is_admin,
        "is_member": is_member,
    }
    if teams is not None:
        if is_admin or _sees_as_superuser(ctx):
            viewable: set[str] | None = None
        else:
            viewable = {team.name for team in ctx.db.user_teams_in_org(org.id, ctx.user.id)} if ctx.user else set()
        view["teams"] = {
            s.team.name: {
                "name": s.team.name, "description": s.team.description, "role": s.team.role,
                "avatar": team_avatar(s.team), "can_view": viewable is None or s.team.name in viewable,
                "repo_count": s.repo_count, "member_count": s.member_count, "is_synced": False,
            }
            for s in teams
        }
        view["ordered_teams"] = [s.team.name for s in teams]
    if is_admin:
        view.update({
            "invoice_email": org.invoice_email, "invoice_email_address": org.invoice_email_address,
            "tag_expiration_s": org.tag_expiration_s, "is_free_account": True,
        })
    if is_admin or is_member:
        view.update(quota_fields(ctx, org))
    return view


def app_view(ctx: Ctx, app: Application, org: User) -> dict[str, Any]:
    """An application as Quay shows it: the secret and private URIs only to the organization's admins."""
    is_admin = ctx.is_org_admin(org)
    return {
        "name": app.name,
        "description": app.description,
        "application_uri": app.application_uri,
        "client_id": app.client_id,
        "client_secret": ctx.db.secrets.decrypt(app.client_secret_enc) if is_admin else None,
        "redirect_uri": app.redirect_uri if is_admin else None,
        "avatar_email": app.avatar_email if is_admin else None,
    }


def _is_restricted(ctx: Ctx, user: User) -> bool:
    if not ctx.config.feature("RESTRICTED_USERS"):
        return False
    allowed = ctx.config.restricted_users_whitelist
    return allowed is None or user.username not in allowed


# ---- organizations ---------------------------------------------------------------------------------------


NEW_ORG = Body("NewOrg", {
    "type": "object",
    "description": "A new organization.",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "Name of the organization (the namespace)."},
        "email": {"type": "string", "description": "E-mail address of the organization."},
        "contact_email": {"type": "string", "description": "Optional address used to reach the organization's "
                                                           "owners."},
        "recaptcha_response": {"type": "string", "description": "Answer to the captcha, when one is required."},
    },
})


def create_organization(ctx: Ctx) -> Any:
    user = ctx.require_user()
    if ctx.config.feature("SUPERUSERS_ORG_CREATION_ONLY") and not ctx.is_superuser():
        raise Unauthorized()
    if not ctx.config.is_superuser(user.username) and _is_restricted(ctx, user):
        raise Unauthorized()
    body = ctx.body
    name: str = body["name"]
    email: str | None = body.get("contact_email") or body.get("email")
    if ctx.db.user_by_name(name) is not None:
        raise invalid_request("A user or organization with this name already exists")
    # Since Quay 3.18 an organization needs no e-mail, even with mailing on; one given must be an address, and
    # unless FEATURE_ORG_SHARED_EMAIL it must be unused. Quay checks the e-mail before the name.
    if email and not valid_email(email):
        raise invalid_request("Invalid email address")
    if email and not ctx.config.feature("ORG_SHARED_EMAIL") and ctx.db.email_in_use(email):
        raise invalid_request(f"Email has already been used: {email}")
    problem = namespace_error(name)
    if problem:
        raise invalid_request(f"Invalid namespace {name}: {problem}")
    if not email:
        # Quay fills in a unique placeholder, which views show as "".
        email = str(uuid.uuid4())
    org = ctx.db.create_organization(name, email, user)
    ctx.log("org_create", namespace=org, metadata={"email": body.get("email"), "namespace": name})
    return "Created"


def get_organization(ctx: Ctx, orgname: str) -> Any:
    org = ctx.db.organization(orgname)
    if org is None:
        raise not_found()
    teams = None
    if _is_member(ctx, org) or _sees_as_superuser(ctx):
        teams = ctx.db.teams_with_counts(org.id)
    return org_view(ctx, org, teams)


UPDATE_ORG = Body("UpdateOrgDetails", {
    "type": "object",
    "description": "Settings of an organization to change; absent keys stay as they are.",
    "properties": {
        "email": {"type": "string", "description": "New e-mail address of the organization."},
        "invoice_email": {"type": "boolean", "description": "Whether invoices are sent by e-mail."},
        "invoice_email_address": {"type": ["string", "null"],
                                  "description": "Where invoices go, when not the organization's address."},
        "tag_expiration_s": {"type": "integer", "minimum": 0,
                             "description": "How long deleted tags stay recoverable, in seconds."},
    },
})


def change_organization_details(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    body: dict[str, Any] = ctx.body or {}
    if "invoice_email" in body:
        org = ctx.db.update_namespace(org.id, invoice_email=body["invoice_email"])
        ctx.log("org_change_invoicing", namespace=org,
                metadata={"invoice_email": body["invoice_email"], "namespace": orgname})
    if "invoice_email_address" in body and body["invoice_email_address"] != org.invoice_email_address:
        org = ctx.db.update_namespace(org.id, invoice_email_address=body["invoice_email_address"])
        ctx.log("org_change_invoicing", namespace=org,
                metadata={"invoice_email_address": body["invoice_email_address"], "namespace": orgname})
    if "email" in body and body["email"] != org.email:
        old_email = org.email
        # Since Quay 3.18 organizations may share an address with other accounts; it must still be an address.
        if body["email"] and not valid_email(body["email"]):
            raise invalid_request("Invalid email address")
        org = ctx.db.update_namespace(org.id, email=body["email"])
        ctx.log("org_change_email", namespace=org,
                metadata={"email": body["email"], "namespace": orgname, "old_email": old_email})
    if ctx.config.feature("CHANGE_TAG_EXPIRATION") and "tag_expiration_s" in body:
        seconds = body["tag_expiration_s"]
        if seconds not in ctx.config.tag_expiration_seconds:
            raise data_model_error("Invalid tag expiration option")
        org = ctx.db.update_namespace(org.id, tag_expiration_s=seconds)
        ctx.log("org_change_tag_expiration", namespace=org,
                metadata={"tag_expiration": seconds, "namespace": orgname})
    return org_view(ctx, org, ctx.db.teams_with_counts(org.id))


def delete_admined_organization(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    # Logged before the deletion, as Quay does, so the entry still names the organization.
    ctx.log("org_delete", namespace=org, metadata={"namespace": orgname})
    ctx.db.delete_organization(org)
    return Reply(status=204)


# ---- members and collaborators ---------------------------------------------------------------------------


def get_organization_collaborators(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    members = {user.username for user, _ in ctx.db.org_memberships(org.id)}
    collaborators: dict[str, dict[str, Any]] = {}
    for user, repo_name in ctx.db.org_direct_permissions(org.id):
        if user.username in members:
            continue
        entry = collaborators.setdefault(user.username, {
            "kind": "user", "name": user.username, "avatar": user_avatar(user), "repositories": []})
        entry["repositories"].append(repo_name)
    return {"collaborators": list(collaborators.values())}


def get_organization_members(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    members: dict[str, dict[str, Any]] = {}
    for user, team in ctx.db.org_memberships(org.id):
        if user.robot:
            continue
        entry = members.setdefault(user.username, {
            "name": user.username, "kind": "user", "avatar": user_avatar(user), "teams": [], "repositories": []})
        entry["teams"].append({"name": team.name, "avatar": team_avatar(team)})
    for user, repo_name in ctx.db.org_direct_permissions(org.id):
        if user.username in members:
            members[user.username]["repositories"].append(repo_name)
    return {"members": list(members.values())}


def get_organization_member(ctx: Ctx, orgname: str, membername: str) -> Any:
    member = ctx.db.user_by_name(membername)
    if member is None or member.organization:
        raise not_found()
    org = ctx.namespace
    if org is None:
        raise not_found()
    teams = ctx.db.user_teams_in_org(org.id, member.id)
    if not teams:
        # Only the organization's own robots may be looked up without belonging to a team.
        parts = split_robot_name(member.username) if member.robot else None
        if parts is None or parts[0] != orgname:
            raise not_found()
    return {
        "name": member.username,
        "kind": "robot" if member.robot else "user",
        "avatar": user_avatar(member),
        "teams": [{"name": team.name, "avatar": team_avatar(team)} for team in teams],
        "repositories": [name for _, name in ctx.db.org_direct_permissions(org.id, member.id)],
    }


def remove_organization_member(ctx: Ctx, orgname: str, membername: str) -> Any:
    member = ctx.db.user_by_name(membername)
    if member is None or member.organization or member.robot:
        raise not_found()
    org = ctx.org()
    admins = ctx.db.org_admin_usernames(org.id)
    if admins == {member.username}:
        raise data_model_error("Cannot remove user as they are the only organization admin")
    # Quay writes no audit entry for this operation.
    ctx.db.remove_org_member(org.id, member.id)
    return Reply(status=204)


# ---- OAuth applications ----------------------------------------------------------------------------------


def get_application_information(ctx: Ctx, client_id: str) -> Any:
    app = ctx.db.application_by_client_id(client_id)
    if app is None:
        raise not_found()
    org = ctx.db.user_by_id(app.org_id)
    assert org is not None
    return {
        "name": app.name,
        "description": app.description,
        "uri": app.application_uri,
        "avatar": avatar(app.name, app.avatar_email or org.email, "app"),
        "organization": org_view(ctx, org, []),
    }


_APP_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string", "description": "Name shown to users asked to authorize the application."},
    "redirect_uri": {"type": "string", "description": "Where the OAuth flow sends users back to."},
    "application_uri": {"type": "string", "description": "Home page of the application."},
    "description": {"type": "string", "description": "Free text describing the application."},
    "avatar_email": {"type": "string", "description": "E-mail address whose avatar represents the application."},
}

NEW_APP = Body("NewApp", {
    "type": "object",
    "description": "A new OAuth application of an organization.",
    "required": ["name"],
    "properties": _APP_PROPERTIES,
})

UPDATE_APP = Body("UpdateApp", {
    "type": "object",
    "description": "The complete new settings of an OAuth application.",
    "required": ["name", "redirect_uri", "application_uri"],
    "properties": _APP_PROPERTIES,
})


def _application(ctx: Ctx, org: User, client_id: str) -> Application:
    app = ctx.db.application(org.id, client_id)
    if app is None:
        raise not_found()
    return app


def get_organization_applications(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    return {"applications": [app_view(ctx, app, org) for app in ctx.db.applications(org.id)]}


def create_organization_application(ctx: Ctx, orgname: str) -> Any:
    org = ctx.org()
    body: dict[str, Any] = dict(ctx.body)
    if body["name"] == BOOTSTRAP_APP_NAME or body["name"] == ctx.config.raw.get("BOOTSTRAP_APP_NAME"):
        raise invalid_request(f"Application name {body['name']} is reserved")
    app = ctx.db.create_application(
        org.id, name=body["name"], application_uri=body.get("application_uri", ""),
        redirect_uri=body.get("redirect_uri", ""), description=body.get("description", ""),
        avatar_email=body.get("avatar_email"))
    # Quay logs the request body plus the application's name and client id.
    ctx.log("create_application", namespace=org,
            metadata={**body, "application_name": app.name, "client_id": app.client_id})
    return app_view(ctx, app, org)


def get_organization_application(ctx: Ctx, orgname: str, client_id: str) -> Any:
    org = ctx.org()
    return app_view(ctx, _application(ctx, org, client_id), org)


def update_organization_application(ctx: Ctx, orgname: str, client_id: str) -> Any:
    org = ctx.org()
    app = _application(ctx, org, client_id)
    body: dict[str, Any] = dict(ctx.body)
    app = ctx.db.update_application(
        app.id, name=body["name"], application_uri=body["application_uri"], redirect_uri=body["redirect_uri"],
        description=body.get("description", ""), avatar_email=body.get("avatar_email"))
    ctx.log("update_application", namespace=org,
            metadata={**body, "application_name": app.name, "client_id": app.client_id})
    return app_view(ctx, app, org)


def delete_organization_application(ctx: Ctx, orgname: str, client_id: str) -> Any:
    org = ctx.org()
    app = _application(ctx, org, client_id)
    ctx.db.delete_application(app.id)
    ctx.log("delete_application", namespace=org, metadata={"application_name": app.name, "client_id": client_id})
    return Reply(status=204)


def reset_organization_application_client_secret(ctx: Ctx, orgname: str, client_id: str) -> Any:
    org = ctx.org()
    app = ctx.db.reset_client_secret(_application(ctx, org, client_id).id)
    ctx.log("reset_application_client_secret", namespace=org,
            metadata={"application_name": app.name, "client_id": client_id})
    return app_view(ctx, app, org)



OPERATIONS = (
    # Quay checks user:admin in a decorator before validating, so the permission comes first here.
    Operation("POST", "/api/v1/organization/", "createOrganization", "organization",
              "Create an organization owned by the caller.", create_organization, Scope.USER_ADMIN,
              SignedIn(UserRole.ADMIN), body=NEW_ORG, success=201),
    Operation("GET", "/api/v1/organization/{orgname}", "getOrganization", "organization",
              "Show an organization; members and admins see more.", get_organization, None, Anyone(),
              params=(ORGNAME,)),
    Operation("PUT", "/api/v1/organization/{orgname}", "changeOrganizationDetails", "organization",
              "Change an organization's e-mail, invoicing or tag expiration.", change_organization_details,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME,), body=UPDATE_ORG, order="validate-first"),
    Operation("DELETE", "/api/v1/organization/{orgname}", "deleteAdminedOrganization", "organization",
              "Delete an organization and everything in it.", delete_admined_organization, Scope.ORG_ADMIN,
              ORG_ADMIN, params=(ORGNAME,), success=204, fresh_login=True),
    Operation("GET", "/api/v1/organization/{orgname}/collaborators", "getOrganizationCollaborators",
              "organization", "List users with direct repository permissions who sit in no team.",
              get_organization_collaborators, Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,)),
    Operation("GET", "/api/v1/organization/{orgname}/members", "getOrganizationMembers", "organization",
              "List the human members of an organization with their teams.", get_organization_members,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,)),
    Operation("GET", "/api/v1/organization/{orgname}/members/{membername}", "getOrganizationMember",
              "organization", "Show one member's teams and direct repository permissions.",
              get_organization_member, Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, MEMBERNAME)),
    Operation("DELETE", "/api/v1/organization/{orgname}/members/{membername}", "removeOrganizationMember",
              "organization", "Remove a user from every team and repository of an organization.",
              remove_organization_member, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, MEMBERNAME), success=204),
    Operation("GET", "/api/v1/app/{client_id}", "getApplicationInformation", "organization",
              "Show the public description of an OAuth application.", get_application_information, None,
              Anyone(), params=(CLIENT_ID,)),
    Operation("GET", "/api/v1/organization/{orgname}/applications", "getOrganizationApplications",
              "organization", "List an organization's OAuth applications.", get_organization_applications,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME,)),
    Operation("POST", "/api/v1/organization/{orgname}/applications", "createOrganizationApplication",
              "organization", "Register an OAuth application for an organization.",
              create_organization_application, Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME,), body=NEW_APP,
              order="validate-first"),
    Operation("GET", "/api/v1/organization/{orgname}/applications/{client_id}", "getOrganizationApplication",
              "organization", "Show one OAuth application of an organization.", get_organization_application,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, CLIENT_ID)),
    Operation("PUT", "/api/v1/organization/{orgname}/applications/{client_id}", "updateOrganizationApplication",
              "organization", "Replace the settings of an OAuth application.", update_organization_application,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, CLIENT_ID), body=UPDATE_APP, order="validate-first"),
    Operation("DELETE", "/api/v1/organization/{orgname}/applications/{client_id}",
              "deleteOrganizationApplication", "organization",
              "Delete an OAuth application and the tokens issued for it.", delete_organization_application,
              Scope.ORG_ADMIN, ORG_ADMIN, params=(ORGNAME, CLIENT_ID), success=204),
    # Quay attaches no scope metadata here; the org-admin check still caps tokens at org:admin.
    Operation("POST", "/api/v1/organization/{orgname}/applications/{client_id}/resetclientsecret",
              "resetOrganizationApplicationClientSecret", "organization",
              "Replace an OAuth application's client secret with a new one.",
              reset_organization_application_client_secret, None, ORG_ADMIN, params=(ORGNAME, CLIENT_ID),
              internal=True, extra={"no_scope_metadata": True}),
)
