"""The signed-in user and public user information (discovery tag `user`)."""

from __future__ import annotations

from typing import Any

from reference_server.auth.authz import effective_user_role
from reference_server.auth.scopes import Scope, TeamRole, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError, Unauthorized
from reference_server.core.operation import Anyone, HandlerChecks, Operation, path_param
from reference_server.core.render import avatar
from reference_server.domain.models import User


def user_view(ctx: Ctx, user: User) -> dict[str, Any]:
    """The signed-in user's own view, trimmed to what their token's scopes allow."""
    role = effective_user_role(ctx.identity)
    view: dict[str, Any] = {"anonymous": False, "username": user.username,
                            "avatar": avatar(user.username, user.email, "user")}
    if role >= UserRole.ADMIN:
        view.update({
            "can_create_repo": True, "is_me": True, "verified": user.verified, "email": user.email,
            "logins": [], "invoice_email": user.invoice_email,
            "invoice_email_address": user.invoice_email_address, "preferred_namespace": False,
            "tag_expiration_s": user.tag_expiration_s, "prompts": [], "company": None,
            "family_name": None, "given_name": None, "location": None, "is_free_account": True,
            "has_password_set": user.has_password,
        })
    if role >= UserRole.READ:
        orgs = []
        for org in ctx.db.organizations_of(user.id):
            team_role = ctx.org_role(org)
            entry: dict[str, Any] = {"name": org.username, "avatar": avatar(org.username, org.email, "org"),
                                     "can_create_repo": team_role >= TeamRole.CREATOR}
            if role >= UserRole.ADMIN:
                entry.update({"is_org_admin": team_role >= TeamRole.ADMIN, "preferred_namespace": False})
            orgs.append(entry)
        view["organizations"] = orgs
    if ctx.is_superuser():
        view["super_user"] = True
    elif ctx.config.feature("SUPER_USERS"):
        view["super_user"] = False
    if ctx.is_global_readonly():
        view["global_readonly_super_user"] = True
    return view


def get_logged_in_user(ctx: Ctx) -> Any:
    user = ctx.user
    if user is None:
        raise Unauthorized(payload={"session_required": False})
    if effective_user_role(ctx.identity) < UserRole.READ:
        raise Unauthorized()
    return user_view(ctx, user)


def get_user_information(ctx: Ctx, username: str) -> Any:
    user = ctx.db.user_by_name(username)
    if user is None or user.organization or user.robot:
        raise MessageError(404, "The requested URL was not found on the server. If you entered the URL "
                                "manually please check your spelling and try again.")
    return {"username": user.username, "avatar": avatar(user.username, user.email, "user"),
            "super_user": ctx.config.is_superuser(user.username)}


OPERATIONS = (
    Operation("GET", "/api/v1/user/", "getLoggedInUser", "user",
              "Describe the signed-in user.", get_logged_in_user, Scope.USER_READ,
              HandlerChecks("anonymous callers get Quay's 401 with session_required")),
    Operation("GET", "/api/v1/users/{username}", "getUserInformation", "user",
              "Show the public profile of a user.", get_user_information, None, Anyone(),
              params=(path_param("username", "The user's name."),)),
)
