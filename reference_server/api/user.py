"""The signed-in user's account, sign-in/out, stars, inbox notifications and OAuth grants (discovery tag
`user`), plus public user information."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid as uuidlib
from typing import Any

from reference_server.api.namespacequota import quota_fields
from reference_server.auth.authn import Authenticator, SessionData
from reference_server.auth.authz import effective_user_role
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.scopes import SCOPE_DESCRIPTIONS, Scope, TeamRole, UserRole, parse_scopes
from reference_server.core.context import Ctx
from reference_server.core.errors import (
    ApiError,
    MessageError,
    Unauthorized,
    data_model_error,
    invalid_request,
    not_found,
)
from reference_server.core.operation import (
    Anyone,
    Body,
    HandlerChecks,
    Operation,
    SignedIn,
    path_param,
    query_param,
)
from reference_server.core.permissions import split_repository
from reference_server.core.render import Reply, avatar, format_date
from reference_server.domain.models import User
from reference_server.domain.names import namespace_error, valid_email, valid_password
from reference_server.storage.users import AppInfo, AssignedAuthorization, Authorization, UserNotification

# Werkzeug's text for a plain `abort(404)`, which Quay's handlers use in a few places.
WERKZEUG_404 = ("The requested URL was not found on the server. If you entered the URL manually please check "
                "your spelling and try again.")
INVALID_PASSWORD = "Invalid password, password must be at least 8 characters and contain no whitespace."
INVALID_CREDENTIALS = "Invalid Username or Password"
STARS_PER_PAGE = 100


# ---- views -------------------------------------------------------------------------------------------


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
        # Quay shows the account's own quota and usage to the user alone (user:admin).
        view.update(quota_fields(ctx, user))
    if role >= UserRole.READ:
        orgs = []
        for org in ctx.db.organizations_of(user.id):
            team_role = ctx.org_role(org)
            entry: dict[str, Any] = {"name": org.username, "avatar": avatar(org.username, org.email, "org"),
                                     "can_create_repo": team_role >= TeamRole.CREATOR, "public": False}
            if role >= UserRole.ADMIN:
                entry.update({"is_org_admin": team_role >= TeamRole.ADMIN, "preferred_namespace": False})
            orgs.append(entry)
        view["organizations"] = orgs
    if ctx.is_superuser():
        # Quay adds the flag only when the caller holds the superuser permission.
        view["super_user"] = True
    if ctx.is_global_readonly():
        view["global_readonly_super_user"] = True
    return view


def _view_as_signed_in(ctx: Ctx, user: User) -> dict[str, Any]:
    """Quay switches the request's identity to the user it has just signed in before building the view,
    so the answer is the full self view even for an anonymous caller."""
    identity = Identity(kind=AuthKind.SESSION, user=user, scopes=frozenset({Scope.DIRECT_LOGIN}),
                        login_time=time.time())
    return user_view(dataclasses.replace(ctx, identity=identity), user)


def _sign_in(ctx: Ctx, user: User, keep_csrf: bool = False) -> None:
    """Set a session cookie for `user` with a fresh login time (Quay's common_login)."""
    if keep_csrf:
        session: SessionData = ctx.state["session"]
        ctx.state["set_session"] = SessionData(user_uuid=user.uuid, csrf=session.csrf or Authenticator.new_csrf(),
                                               login_time=time.time())
    else:
        ctx.state["set_session"] = Authenticator.signed_in(user.uuid)


# Short titles shown with each scope of a grant; our own words.
_SCOPE_TITLES: dict[Scope, str] = {
    Scope.REPO_READ: "View all visible repositories",
    Scope.REPO_WRITE: "Read/Write to any accessible repositories",
    Scope.REPO_ADMIN: "Administer repositories",
    Scope.REPO_CREATE: "Create repositories",
    Scope.USER_READ: "Read user information",
    Scope.USER_ADMIN: "Administer user",
    Scope.ORG_ADMIN: "Administer organization",
    Scope.SUPERUSER: "Superuser access",
}
_DANGEROUS = {Scope.USER_ADMIN, Scope.ORG_ADMIN, Scope.SUPERUSER}
_ICONS = {Scope.REPO_READ: "fa-hdd-o", Scope.REPO_WRITE: "fa-hdd-o", Scope.REPO_ADMIN: "fa-hdd-o",
          Scope.REPO_CREATE: "fa-plus", Scope.USER_READ: "fa-user", Scope.USER_ADMIN: "fa-gear",
          Scope.ORG_ADMIN: "fa-gear", Scope.SUPERUSER: "fa-street-view"}


def scope_information(scope_text: str) -> list[dict[str, Any]]:
    scopes = parse_scopes(scope_text) or frozenset()
    return [{"scope": s.value, "title": _SCOPE_TITLES[s], "description": SCOPE_DESCRIPTIONS[s],
             "icon": _ICONS[s], "dangerous": s in _DANGEROUS}
            for s in sorted(scopes, key=lambda s: s.value) if s in _SCOPE_TITLES]


def _application_view(app: AppInfo, with_client_id: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"name": app.name}
    if with_client_id:
        view["clientId"] = app.client_id
    view.update({
        "description": app.description, "url": app.application_uri,
        "avatar": avatar(app.name, app.avatar_email or app.org_email, "app"),
        "organization": {"name": app.org_name, "avatar": avatar(app.org_name, app.org_email, "org")},
    })
    return view


def authorization_view(grant: Authorization) -> dict[str, Any]:
    return {"application": _application_view(grant.app, False), "scopes": scope_information(grant.scope),
            "uuid": grant.uuid}


def assigned_authorization_view(assigned: AssignedAuthorization) -> dict[str, Any]:
    return {"application": _application_view(assigned.app, True), "uuid": assigned.uuid,
            "redirectUri": assigned.redirect_uri, "scopes": scope_information(assigned.scope),
            "responseType": assigned.response_type}


def notification_view(note: UserNotification) -> dict[str, Any]:
    return {"id": note.uuid, "organization": note.organization, "kind": note.kind,
            "created": format_date(note.created), "metadata": note.metadata, "dismissed": note.dismissed}


# ---- the account ---------------------------------------------------------------------------------------


def get_logged_in_user(ctx: Ctx) -> Any:
    user = ctx.user
    if user is None:
        raise Unauthorized(payload={"session_required": False})
    if effective_user_role(ctx.identity) < UserRole.READ:
        # Quay raises InvalidToken here (401, session_required false), not the 403 of a missing permission.
        raise ApiError("invalid_token", "Requires authentication", payload={"session_required": False})
    return user_view(ctx, user)


NEW_USER = Body("NewUser", {
    "type": "object",
    "description": "What a new account needs.",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "description": "Name of the new account."},
        "password": {"type": "string", "description": "Password of the new account."},
        "email": {"type": "string", "description": "E-mail address of the new account."},
        "invite_code": {"type": "string", "description": "Team invitation code that proves the e-mail address."},
        "recaptcha_response": {"type": "string", "description": "Captcha answer, when captchas are enabled."},
    },
})


def create_new_user(ctx: Ctx) -> Any:
    body = ctx.body
    username, password, email = body["username"], body["password"], body.get("email")
    mailing = ctx.config.feature("MAILING")
    if ctx.db.nonrobot_user(username) is not None:
        raise invalid_request("The username already exists")
    if mailing and not email:
        raise invalid_request("Email address is required")
    # Quay's model checks, in its order: password, e-mail (only when mail is on), name, uniqueness.
    if not valid_password(password):
        raise invalid_request(INVALID_PASSWORD)
    if mailing:
        if not valid_email(email):
            raise invalid_request(f"Invalid email address: {email}")
    else:
        # Without mail, Quay fills a missing address with a unique placeholder to keep addresses distinct.
        email = email or str(uuidlib.uuid4())
    problem = namespace_error(username)
    if problem:
        raise invalid_request(f"Invalid namespace {username}: {problem}")
    existing = ctx.db.user_by_name(username)
    if existing is not None:
        raise invalid_request(f"Username has already been taken by an organization and cannot be reused: {username}")
    if mailing and ctx.db.user_by_email(email) is not None:
        raise invalid_request(f"Email has already been used: {email}")
    user = ctx.db.create_namespace(username, email=email, password=password, verified=not mailing,
                                   tag_expiration_s=ctx.config.default_tag_expiration_s)
    ctx.log("user_create", namespace=user, metadata={"email": body.get("email"), "username": username})
    if mailing:
        ctx.db.record_mail("confirm_email", email, {"username": username})
        return {"awaiting_verification": True}
    _sign_in(ctx, user)
    return _view_as_signed_in(ctx, user)


# Quay calls this UpdateUser as well, but the superuser schema of that name is the one its discovery shows.
UPDATE_USER = Body("UpdateCurrentUser", {
    "type": "object",
    "description": "Account settings to change; absent fields stay as they are.",
    "properties": {
        "password": {"type": "string", "description": "New password."},
        "invoice_email": {"type": "boolean", "description": "Whether invoices are e-mailed."},
        "email": {"type": "string", "description": "New e-mail address."},
        "tag_expiration_s": {"type": "integer", "minimum": 0,
                             "description": "Time machine window in seconds; one of the configured options."},
        "username": {"type": "string", "description": "New account name, where renaming is allowed."},
        "invoice_email_address": {"type": ["string", "null"], "description": "Address that receives invoices."},
        "given_name": {"type": ["string", "null"], "description": "Given name."},
        "family_name": {"type": ["string", "null"], "description": "Family name."},
        "company": {"type": ["string", "null"], "description": "Company."},
        "location": {"type": ["string", "null"], "description": "Location."},
    },
})


def change_user_details(ctx: Ctx) -> Any:
    user = ctx.require_user()
    data = ctx.body
    mailing = ctx.config.feature("MAILING")
    if "password" in data:
        if not valid_password(data["password"]):
            raise invalid_request(INVALID_PASSWORD)
        ctx.db.set_password(user.id, data["password"])
        ctx.log("account_change_password", namespace=user)
        # Quay signs the user in again so the session that made the change stays valid.
        _sign_in(ctx, user, keep_csrf=True)
        if mailing and user.email:
            ctx.db.record_mail("password_changed", user.email, {"username": user.username})
    if "invoice_email" in data:
        ctx.db.update_user_fields(user.id, invoice_email=data["invoice_email"])
        ctx.log("user_change_invoicing", namespace=user, metadata={"invoice_email": data["invoice_email"]})
    if ctx.config.feature("CHANGE_TAG_EXPIRATION") and "tag_expiration_s" in data:
        if data["tag_expiration_s"] not in ctx.config.tag_expiration_seconds:
            raise data_model_error("Invalid tag expiration option")
        ctx.db.update_user_fields(user.id, tag_expiration_s=data["tag_expiration_s"])
        ctx.log("user_change_tag_expiration", namespace=user,
                metadata={"tag_expiration": data["tag_expiration_s"]})
    if "invoice_email_address" in data and data["invoice_email_address"] != user.invoice_email_address:
        ctx.db.update_user_fields(user.id, invoice_email_address=data["invoice_email_address"] or None)
        ctx.log("user_change_invoicing", namespace=user,
                metadata={"invoice_email_address": data["invoice_email_address"]})
    if "email" in data and data["email"] != user.email:
        new_email = data["email"]
        if ctx.db.user_by_email(new_email) is not None:
            raise invalid_request("E-mail address already used")
        if mailing:
            # With mail on, the address only changes once the confirmation link is followed.
            if not valid_email(new_email):
                raise data_model_error(f"Invalid email address: {new_email}")
            ctx.db.record_mail("change_email", new_email, {"username": user.username})
        else:
            ctx.db.update_user_fields(user.id, email=new_email, verified=True)
            ctx.log("user_change_email", namespace=user, metadata={"email": new_email, "old_email": user.email})
    if "username" in data:
        new_name = data["username"]
        # Renaming needs FEATURE_USER_RENAME; otherwise Quay silently ignores the field.
        if ctx.config.feature("USER_RENAME") and new_name and new_name != user.username:
            existing = ctx.db.user_by_name(new_name)
            if existing is not None and not existing.robot:
                raise invalid_request("Username is already in use")
            problem = namespace_error(new_name)
            if problem:
                raise data_model_error(f"Invalid username {new_name}: {problem}")
            old_name = user.username
            ctx.db.rename_namespace(user, new_name)
            ctx.log("user_change_name", namespace=user, metadata={"old_username": old_name})
    fresh = ctx.db.user_by_id(user.id)
    assert fresh is not None
    return user_view(ctx, fresh)


def delete_current_user(ctx: Ctx) -> Any:
    user = ctx.require_user()
    ctx.log("user_delete", namespace=user, metadata={"username": user.username})
    ctx.db.delete_namespace(user)
    return None


def get_user_information(ctx: Ctx, username: str) -> Any:
    user = ctx.db.user_by_name(username)
    if user is None or user.organization or user.robot:
        raise MessageError(404, WERKZEUG_404)
    if ctx.user is not None and ctx.user.id == user.id:
        # Quay builds the same view as GET /user/, so a user looking at themselves sees their own fields.
        return user_view(ctx, user)
    view: dict[str, Any] = {"anonymous": False, "username": user.username,
                            "avatar": avatar(user.username, user.email, "user")}
    if ctx.is_superuser():
        view["super_user"] = False  # Quay's flag says whether the user shown is the calling superuser
    return view


# ---- signing in and out ----------------------------------------------------------------------------------


SIGNIN_USER = Body("SigninUser", {
    "type": "object",
    "description": "Credentials for a browser sign-in.",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "description": "Account name or e-mail address."},
        "password": {"type": "string", "description": "Password."},
        "invite_code": {"type": "string", "description": "Team invitation code that proves the e-mail address."},
    },
})


def _audit_logins(ctx: Ctx) -> bool:
    return bool(ctx.config.raw.get("ACTION_LOG_AUDIT_LOGINS", True))


def _audit_login_failures(ctx: Ctx) -> bool:
    return bool(ctx.config.raw.get("ACTION_LOG_AUDIT_LOGIN_FAILURES", False))


def _conduct_signin(ctx: Ctx, username_or_email: str, password: str) -> Any:
    """Quay's shared sign-in: a session on success, else 403 telling invalid credentials from an
    unverified e-mail address."""
    user = ctx.db.verify_credentials(username_or_email, password)
    message: str | None = None
    if user is not None and user.enabled and user.verified:
        _sign_in(ctx, user)
        if _audit_logins(ctx):
            ctx.log("login_success", namespace=user, performer=user,
                    metadata={"type": "quayauth", "useragent": ctx.request.headers.get("user-agent", "")})
        return {"success": True}
    needs_verification = user is not None and user.enabled and not user.verified
    if not needs_verification:
        message = INVALID_CREDENTIALS
        if _audit_login_failures(ctx):
            possible = ctx.db.nonrobot_user(username_or_email) or ctx.db.user_by_email(username_or_email)
            ctx.log("login_failure", namespace=possible, performer=possible, metadata={
                "type": "quayauth", "kind": "user", "useragent": ctx.request.headers.get("user-agent", ""),
                "username": username_or_email, "message": message})
    # Quay *returns* this 403 rather than raising, so the failure count and the audit entry persist; a
    # raised error would roll the request's transaction back. An unverified account gets `"message": null`.
    return Reply({"needsEmailVerification": needs_verification, "invalidCredentials": not needs_verification,
                  "message": message}, status=403)


def signin_user(ctx: Ctx) -> Any:
    return _conduct_signin(ctx, ctx.body["username"], ctx.body["password"])


VERIFY_USER = Body("VerifyUser", {
    "type": "object",
    "description": "The signed-in user's password, to prove a recent login.",
    "required": ["password"],
    "properties": {"password": {"type": "string", "description": "Password."}},
})


def verify_user(ctx: Ctx) -> Any:
    user = ctx.require_user()
    if ctx.db.verify_credentials(user.username, ctx.body["password"]) is None:
        # Returned, not raised, so the failed attempt stays counted (see _conduct_signin).
        return Reply({"message": INVALID_CREDENTIALS, "invalidCredentials": True}, status=403)
    _sign_in(ctx, user, keep_csrf=True)
    return {"success": True}


def logout(ctx: Ctx) -> Any:
    user = ctx.user
    ctx.state["set_session"] = SessionData()
    if user is not None:
        ctx.log("logout_success", namespace=user)
    return {"success": True}


# ---- external logins (none are configured on the reference server) ------------------------------------------


GET_LOGIN = Body("GetLogin", {
    "type": "object",
    "description": "Which kind of external-login address to build.",
    "required": ["kind"],
    "properties": {"kind": {"type": "string", "enum": ["login", "attach", "cli"],
                            "description": "What the address is for."}},
})


def retrieve_external_login_authorization_url(ctx: Ctx, service_id: str) -> Any:
    # No login service exists, so every id is unknown: Quay answers a bare invalid_request.
    raise ApiError("invalid_request", None)


def detach_external_login(ctx: Ctx, service_id: str) -> Any:
    # Detaching from a service the user is not attached to (or that does not exist) is a no-op in Quay.
    ctx.require_user()
    return {"success": True}


# ---- recovery and client keys -------------------------------------------------------------------------------


REQUEST_RECOVERY = Body("RequestRecovery", {
    "type": "object",
    "description": "Where to send a password-recovery link.",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "description": "E-mail address of the account."},
        "recaptcha_response": {"type": "string", "description": "Captcha answer, when captchas are enabled."},
    },
})


def _redact(value: str) -> str:
    """Quay's recovery redaction: keep about a third of the name at each end, dot out the middle."""
    threshold = max(len(value) / 3 - 1, 1)
    return "".join(ch if i < threshold or i >= len(value) - threshold else "\u2022"
                   for i, ch in enumerate(value))


def request_recovery_email(ctx: Ctx) -> Any:
    email = ctx.body["email"]
    namespace = ctx.db.namespace_by_email(email)
    # Unknown addresses get the same answer, so the endpoint does not reveal which addresses exist.
    if namespace is None:
        return {"status": "sent"}
    if namespace.organization:
        # Organizations cannot sign in: Quay mails their admins and says so, with the name partly hidden.
        ctx.db.record_mail("org_recovery", email, {"organization": namespace.username})
        return {"status": "org", "orgemail": email, "orgname": _redact(namespace.username)}
    ctx.db.record_mail("recovery", email, {"username": namespace.username})
    return {"status": "sent"}


GENERATE_CLIENT_KEY = Body("GenerateClientKey", {
    "type": "object",
    "description": "The user's password, to be turned into an encrypted registry password.",
    "required": ["password"],
    "properties": {"password": {"type": "string", "description": "Password."}},
})


def generate_user_client_key(ctx: Ctx) -> Any:
    user = ctx.require_user()
    password = ctx.body["password"]
    if ctx.db.verify_credentials(user.username, password) is None:
        raise invalid_request(INVALID_CREDENTIALS)
    ctx.log("user_generate_client_key", namespace=user)
    return {"key": ctx.db.secrets.encrypt(json.dumps({"password": password}))}


CONVERT_USER = Body("ConvertUser", {
    "type": "object",
    "description": "The account that will administer the organization this user becomes.",
    "required": ["adminUser", "adminPassword"],
    "properties": {
        "adminUser": {"type": "string", "description": "Name of the future administrator."},
        "adminPassword": {"type": "string", "description": "Password of the future administrator."},
        "plan": {"type": "string", "description": "Billing plan, when billing is enabled."},
    },
})


def convert_user_to_organization(ctx: Ctx) -> Any:
    user = ctx.require_user()
    admin_name, admin_password = ctx.body["adminUser"], ctx.body["adminPassword"]
    admin = ctx.db.verify_credentials(admin_name, admin_password)
    if admin is None:
        raise invalid_request("The admin user credentials are not valid", reason="invaliduser")
    if admin.id == user.id:
        raise invalid_request("The admin user is not valid", reason="invaliduser")
    ctx.db.convert_to_organization(user, admin)
    ctx.log("account_convert", namespace=user)
    # Quay finishes by signing in as the new administrator.
    return _conduct_signin(ctx, admin_name, admin_password)


# ---- stars ------------------------------------------------------------------------------------------------


def _page_start(ctx: Ctx, token: str | None) -> int:
    """The repository id a `next_page` token continues after; a bad token restarts from the top."""
    if not token:
        return 0
    plain = ctx.db.secrets.decrypt(token)
    try:
        data = json.loads(plain) if plain else None
    except ValueError:
        return 0
    after = data.get("after_id") if isinstance(data, dict) else None
    return after if isinstance(after, int) else 0


def list_starred_repos(ctx: Ctx) -> Any:
    user = ctx.require_user()
    repos = ctx.db.starred_repositories(user.id, _page_start(ctx, ctx.query["next_page"]), STARS_PER_PAGE + 1)
    answer: dict[str, Any] = {"repositories": [
        {"namespace": r.namespace, "name": r.name, "description": r.description, "is_public": r.is_public}
        for r in repos[:STARS_PER_PAGE]]}
    if len(repos) > STARS_PER_PAGE:
        answer["next_page"] = ctx.db.secrets.encrypt(json.dumps({"after_id": repos[STARS_PER_PAGE - 1].id}))
    return answer


NEW_STAR = Body("NewStarredRepository", {
    "type": "object",
    "description": "The repository to star.",
    "required": ["namespace", "repository"],
    "properties": {
        "namespace": {"type": "string", "description": "Namespace of the repository."},
        "repository": {"type": "string", "description": "Name of the repository inside the namespace."},
    },
})


def create_star(ctx: Ctx) -> Any:
    user = ctx.require_user()
    namespace, name = ctx.body["namespace"], ctx.body["repository"]
    repo = ctx.db.repository(namespace, name)
    if repo is None or repo.state == "MARKED_FOR_DELETION":
        # Quay's handler falls through without a return value here: 200 with a JSON null.
        return Reply(None, status=200)
    # No visibility check, as in Quay: any existing repository can be starred.
    ctx.db.star_repository(user.id, repo.id)
    return {"namespace": namespace, "repository": name}


def delete_star(ctx: Ctx, repository: str) -> Any:
    user = ctx.require_user()
    namespace, name = split_repository(repository)
    repo = ctx.db.repository(namespace, name)
    if repo is None or repo.state == "MARKED_FOR_DELETION":
        return Reply(None, status=200)
    ctx.db.unstar_repository(user.id, repo.id)
    return None


# ---- inbox notifications --------------------------------------------------------------------------------


def list_user_notifications(ctx: Ctx) -> Any:
    user = ctx.require_user()
    page, limit = ctx.query["page"], ctx.query["limit"]
    # Quay asks for one extra row to know whether more exist; pages count from 1 (0 means the first page
    # too) and step by that enlarged size.
    fetch = limit + 1
    if page:
        offset, count = max((page - 1) * fetch, 0), max(fetch, 0)
    else:
        # A zero or negative size means "no limit" on this path, as with Quay's query builder.
        offset, count = 0, (fetch if fetch > 0 else None)
    notes = ctx.db.user_notifications(user.id, offset=offset, limit=count)
    more = len(notes) > limit
    if more:
        notes = notes[:limit]
    return {"notifications": [notification_view(n) for n in notes], "additional": more}


def _notification(ctx: Ctx, uuid: str) -> UserNotification:
    found = ctx.db.user_notifications(ctx.require_user().id, uuid=uuid, include_dismissed=True, limit=1)
    if not found:
        raise not_found()
    return found[0]


def get_user_notification(ctx: Ctx, uuid: str) -> Any:
    return notification_view(_notification(ctx, uuid))


UPDATE_NOTIFICATION = Body("UpdateNotification", {
    "type": "object",
    "description": "New state of an inbox notification.",
    "properties": {"dismissed": {"type": "boolean", "description": "Whether the user has dismissed it."}},
})


def update_user_notification(ctx: Ctx, uuid: str) -> Any:
    note = _notification(ctx, uuid)
    dismissed = bool(ctx.body.get("dismissed", False))
    ctx.db.set_notification_dismissed(note.id, dismissed)
    return notification_view(dataclasses.replace(note, dismissed=dismissed))


# ---- OAuth grants -----------------------------------------------------------------------------------------


def list_user_authorizations(ctx: Ctx) -> Any:
    user = ctx.require_user()
    return {"authorizations": [authorization_view(a) for a in ctx.db.user_authorizations(user.id)]}


def _authorization(ctx: Ctx, access_token_uuid: str) -> Authorization:
    found = ctx.db.user_authorizations(ctx.require_user().id, access_token_uuid)
    if not found:
        raise not_found()
    return found[0]


def get_user_authorization(ctx: Ctx, access_token_uuid: str) -> Any:
    return authorization_view(_authorization(ctx, access_token_uuid))


def delete_user_authorization(ctx: Ctx, access_token_uuid: str) -> Any:
    ctx.db.delete_oauth_token(_authorization(ctx, access_token_uuid).id)
    return None


def list_assigned_authorizations(ctx: Ctx) -> Any:
    user = ctx.require_user()
    assigned = ctx.db.assigned_authorizations(user.id)
    # Viewing the list clears the inbox notifications that announced the assignments.
    ctx.db.delete_notifications_by_kind(user.id, "assigned_authorization")
    return {"authorizations": [assigned_authorization_view(a) for a in assigned]}


def delete_assigned_authorization(ctx: Ctx, assigned_authorization_uuid: str) -> Any:
    found = ctx.db.assigned_authorizations(ctx.require_user().id, assigned_authorization_uuid)
    if not found:
        raise not_found()
    ctx.db.delete_assigned_authorization(found[0].id)
    return None


USER_ADMIN = SignedIn(UserRole.ADMIN)
SERVICE_ID = path_param("service_id", "Name of the external login service.")

OPERATIONS = (
    Operation("GET", "/api/v1/user/", "getLoggedInUser", "user",
              "Describe the signed-in user.", get_logged_in_user, Scope.USER_READ,
              HandlerChecks("anonymous callers get Quay's 401 with session_required")),
    Operation("POST", "/api/v1/user/", "createNewUser", "user",
              "Register a new user account.", create_new_user, None, Anyone(),
              body=NEW_USER, internal=True, feature="USER_CREATION+DIRECT_LOGIN", order="validate-first"),
    Operation("PUT", "/api/v1/user/", "changeUserDetails", "user",
              "Change the signed-in user's password, e-mail address or settings.", change_user_details,
              Scope.USER_ADMIN, USER_ADMIN, body=UPDATE_USER, internal=True, fresh_login=True),
    Operation("DELETE", "/api/v1/user/", "deleteCurrentUser", "user",
              "Delete the signed-in user's account.", delete_current_user, Scope.USER_ADMIN, USER_ADMIN,
              success=204, internal=True, fresh_login=True),
    Operation("GET", "/api/v1/users/{username}", "getUserInformation", "user",
              "Show the public profile of a user.", get_user_information, None, Anyone(),
              params=(path_param("username", "The user's name."),)),
    Operation("POST", "/api/v1/signin", "signinUser", "user",
              "Sign in with a user name (or e-mail address) and password, starting a session.", signin_user,
              None, Anyone(), body=SIGNIN_USER, internal=True, feature="DIRECT_LOGIN", other_statuses=(429,)),
    Operation("POST", "/api/v1/signin/verify", "verifyUser", "user",
              "Confirm the signed-in user's password, renewing the session's login time.", verify_user,
              Scope.USER_ADMIN, USER_ADMIN, body=VERIFY_USER, internal=True),
    Operation("POST", "/api/v1/signout", "logout", "user",
              "End the current session.", logout, None, Anyone(), internal=True),
    Operation("POST", "/api/v1/externallogin/{service_id}", "retrieveExternalLoginAuthorizationUrl", "user",
              "Build the address that starts a sign-in through an external login service.",
              retrieve_external_login_authorization_url, None, Anyone(), params=(SERVICE_ID,), body=GET_LOGIN,
              internal=True, order="validate-first"),
    Operation("POST", "/api/v1/detachexternal/{service_id}", "detachExternalLogin", "user",
              "Unlink the signed-in user from an external login service.", detach_external_login,
              Scope.USER_ADMIN, USER_ADMIN, params=(SERVICE_ID,), internal=True, feature="DIRECT_LOGIN"),
    Operation("POST", "/api/v1/recovery", "requestRecoveryEmail", "user",
              "Send a password-recovery e-mail.", request_recovery_email, None, Anyone(),
              body=REQUEST_RECOVERY, internal=True, feature="MAILING"),
    Operation("POST", "/api/v1/user/clientkey", "generateUserClientKey", "user",
              "Turn the user's password into an encrypted password for registry clients.",
              generate_user_client_key, Scope.USER_ADMIN, USER_ADMIN, body=GENERATE_CLIENT_KEY, internal=True),
    Operation("POST", "/api/v1/user/convert", "convertUserToOrganization", "user",
              "Turn the signed-in user into an organization administered by another user.",
              convert_user_to_organization, Scope.USER_ADMIN, USER_ADMIN, body=CONVERT_USER, internal=True),
    Operation("GET", "/api/v1/user/starred", "listStarredRepos", "user",
              "List the repositories the user has starred.", list_starred_repos, Scope.USER_ADMIN, USER_ADMIN,
              params=(query_param("next_page", "Token of the page to continue from."),)),
    Operation("POST", "/api/v1/user/starred", "createStar", "user",
              "Star a repository.", create_star, Scope.REPO_READ, USER_ADMIN, body=NEW_STAR, success=201,
              order="validate-first"),
    Operation("DELETE", "/api/v1/user/starred/{repository}", "deleteStar", "user",
              "Remove the user's star from a repository.", delete_star, Scope.USER_ADMIN, USER_ADMIN,
              params=(path_param("repository", "The full path of the repository, namespace/name."),),
              success=204),
    Operation("GET", "/api/v1/user/notifications", "listUserNotifications", "user",
              "List the user's undismissed inbox notifications.", list_user_notifications, Scope.USER_ADMIN,
              USER_ADMIN, params=(query_param("page", "Page number.", "integer", default=0),
                                  query_param("limit", "Notifications per page.", "integer", default=5)),
              internal=True),
    Operation("GET", "/api/v1/user/notifications/{uuid}", "getUserNotification", "user",
              "Show one inbox notification.", get_user_notification, Scope.USER_ADMIN, USER_ADMIN,
              params=(path_param("uuid", "The notification's uuid."),), internal=True),
    Operation("PUT", "/api/v1/user/notifications/{uuid}", "updateUserNotification", "user",
              "Dismiss or restore an inbox notification.", update_user_notification, Scope.USER_ADMIN,
              USER_ADMIN, params=(path_param("uuid", "The notification's uuid."),), body=UPDATE_NOTIFICATION,
              internal=True),
    Operation("GET", "/api/v1/user/authorizations", "listUserAuthorizations", "user",
              "List the OAuth access the user has granted to applications.", list_user_authorizations,
              Scope.USER_ADMIN, USER_ADMIN, internal=True),
    Operation("GET", "/api/v1/user/authorizations/{access_token_uuid}", "getUserAuthorization", "user",
              "Show one OAuth grant of the user.", get_user_authorization, Scope.USER_ADMIN, USER_ADMIN,
              params=(path_param("access_token_uuid", "The access token's uuid."),), internal=True),
    Operation("DELETE", "/api/v1/user/authorizations/{access_token_uuid}", "deleteUserAuthorization", "user",
              "Revoke one OAuth grant of the user.", delete_user_authorization, Scope.USER_ADMIN, USER_ADMIN,
              params=(path_param("access_token_uuid", "The access token's uuid."),), success=204,
              internal=True),
    Operation("GET", "/api/v1/user/assignedauthorization", "listAssignedAuthorizations", "user",
              "List OAuth tokens an organization administrator has assigned to the user.",
              list_assigned_authorizations, Scope.USER_ADMIN, USER_ADMIN, internal=True,
              feature="ASSIGN_OAUTH_TOKEN"),
    Operation("DELETE", "/api/v1/user/assignedauthorization/{assigned_authorization_uuid}",
              "deleteAssignedAuthorization", "user", "Decline an OAuth token assigned to the user.",
              delete_assigned_authorization, Scope.USER_ADMIN, USER_ADMIN,
              params=(path_param("assigned_authorization_uuid", "The assignment's uuid."),), success=204,
              internal=True, feature="ASSIGN_OAUTH_TOKEN"),
)
