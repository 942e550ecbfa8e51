"""The superuser panel (discovery tag `superuser`): registry-wide users, organizations and app tokens.

Quay checks the superuser permission inside each handler, after the fresh-login check and after validating
the body, so every operation here is declared `validate-first` with `fresh_login=True`.
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from datetime import timedelta
from typing import Any

from reference_server.api.namespacequota import quota_fields
from reference_server.auth.scopes import Scope
from reference_server.auth.secrets import new_code
from reference_server.core.context import Ctx
from reference_server.core.errors import data_model_error, invalid_request, not_found
from reference_server.core.operation import Body, Operation, SuperuserPermission, path_param, query_param
from reference_server.core.render import avatar, format_date
from reference_server.domain.models import User
from reference_server.domain.names import namespace_error, valid_email, valid_password

PAGE_LIMIT_MAX = 100
DEFAULT_PAGE_SIZE = 50
DEFAULT_EXPIRING_WINDOW_S = 4 * 7 * 86400  # Quay's window when APP_SPECIFIC_TOKEN_EXPIRATION is unset
INVALID_PASSWORD = "Invalid password, password must be at least 8 characters and contain no whitespace."
CHANGE_LOG = (
    "# quay-harness reference server\n\n"
    "This registry is the quay-harness reference server, a re-implementation of the Quay API used as a test "
    "target. It keeps no release history of its own; see the project's repository for its changes.\n"
)

CREATE_INSTALL_USER = Body("CreateInstallUser", {
    "type": "object",
    "description": "The account the superuser wants to create.",
    "required": ["username"],
    "properties": {
        "username": {"type": "string", "description": "Name of the new user."},
        "email": {"type": "string", "description": "E-mail address of the new user."},
    },
})
UPDATE_USER = Body("UpdateUser", {
    "type": "object",
    "description": "The account settings a superuser may change; absent keys stay as they are.",
    "properties": {
        "password": {"type": "string", "description": "A new password for the user."},
        "email": {"type": "string", "description": "A new e-mail address (taken as verified)."},
        "enabled": {"type": "boolean", "description": "False blocks the user from signing in."},
    },
})
UPDATE_ORG = Body("UpdateOrg", {
    "type": "object",
    "description": "The organization settings a superuser may change.",
    "properties": {
        "name": {"type": "string", "description": "A new name for the organization."},
    },
})

PAGE_PARAMS = (
    query_param("next_page", "The opaque token returned by the previous page."),
    query_param("limit", "Page size, at most 100; giving it turns paging on.", "integer"),
)


# ---- views -----------------------------------------------------------------------------------------------


def user_view(ctx: Ctx, user: User) -> dict[str, Any]:
    return {
        "kind": "user", "name": user.username, "username": user.username, "email": user.email,
        "verified": user.verified, "avatar": avatar(user.username, user.email, "user"),
        "super_user": ctx.config.is_superuser(user.username),
        "global_readonly_super_user": ctx.config.is_global_readonly(user.username),
        "enabled": user.enabled, **quota_fields(ctx, user),
    }


def org_view(ctx: Ctx, org: User) -> dict[str, Any]:
    return {"name": org.username, "email": org.email or "", "avatar": avatar(org.username, org.email, "org"),
            **quota_fields(ctx, org)}


# ---- paging ----------------------------------------------------------------------------------------------


def _page_window(ctx: Ctx) -> tuple[int, int | None]:
    """(last id already shown, page size or None when paging is off). Bad tokens restart at page 1."""
    limit: int | None = ctx.query.get("limit")
    token: str | None = ctx.query.get("next_page")
    if limit is not None and not 1 <= limit <= PAGE_LIMIT_MAX:
        raise invalid_request(f"Limit must be between 1 and {PAGE_LIMIT_MAX}")
    if limit is None and token is None:
        return 0, None
    after = 0
    if token:
        plain = ctx.db.secrets.decrypt(token)
        try:
            state = json.loads(plain) if plain else {}
            after = int(state.get("after", 0)) if isinstance(state, dict) else 0
        except (ValueError, TypeError):
            after = 0
    return after, limit or DEFAULT_PAGE_SIZE


def _paged(ctx: Ctx, rows: list[User], size: int | None) -> tuple[list[User], str | None]:
    if size is None or len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, ctx.db.secrets.encrypt(json.dumps({"after": rows[-1].id}))


# ---- lookups ---------------------------------------------------------------------------------------------


def _human(ctx: Ctx, username: str) -> User:
    user = ctx.db.user_by_name(username)
    if user is None or user.robot or user.organization:
        raise not_found()
    return user


def _organization(ctx: Ctx, name: str) -> User:
    org = ctx.db.user_by_name(name)
    if org is None or not org.organization:
        raise data_model_error(f"Organization does not exist: {name}")
    return org


def _require_database_auth(ctx: Ctx, message: str) -> None:
    if str(ctx.config.raw.get("AUTHENTICATION_TYPE", "Database")) != "Database":
        raise invalid_request(message)


# ---- users -----------------------------------------------------------------------------------------------


def list_all_users(ctx: Ctx) -> Any:
    after, size = _page_window(ctx)
    rows = ctx.db.users_after(after, size + 1 if size else None, bool(ctx.query["disabled"]))
    users, next_page = _paged(ctx, rows, size)
    answer: dict[str, Any] = {"users": [user_view(ctx, u) for u in users]}
    if next_page:
        answer["next_page"] = next_page
    return answer


def create_install_user(ctx: Ctx) -> Any:
    _require_database_auth(ctx, "Cannot create a user in a non-database auth system")
    body = ctx.body
    username: str = body["username"]
    email: str | None = body.get("email")
    mailing = ctx.config.feature("MAILING")
    # Quay's checks, in its order: e-mail validity (only when mail is on), name rules, name taken, e-mail taken.
    if mailing and (email is None or not valid_email(email)):
        raise data_model_error(f"Invalid email address: {email}")
    problem = namespace_error(username)
    if problem:
        raise data_model_error(f"Invalid namespace {username}: {problem}")
    existing = ctx.db.user_by_name(username)
    if existing is not None:
        if existing.organization:
            raise data_model_error(
                f"Username has already been taken by an organization and cannot be reused: {username}")
        raise data_model_error(f"Username has already been taken by user cannot be reused: {username}")
    if ctx.db.name_taken(username):
        raise data_model_error("Username is not available")
    if mailing and email is not None and ctx.db.account_email_in_use(email):
        raise data_model_error(f"Email has already been used: {email}")
    # A temporary password the superuser hands over: 32 characters of upper-case letters and digits.
    password = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(32))
    stored_email = email if email is not None or mailing else str(uuid.uuid4())
    user = ctx.db.create_namespace(username, email=stored_email, password=password, verified=not mailing)
    if mailing and user.email:
        ctx.db.record_mail("confirm_email", user.email, {"username": username, "code": new_code()})
    ctx.log("user_create", namespace=user,
            metadata={"username": username, "email": email, "superuser": ctx.require_user().username})
    # encrypted_password is Quay's docker-login form of the password (the same form as POST /user/clientkey).
    return {"username": username, "email": email, "password": password,
            "encrypted_password": _encrypted_password(ctx, password)}


def _encrypted_password(ctx: Ctx, password: str) -> str:
    """Quay's authentication.encrypt_user_password: the form POST /user/clientkey hands out as `key`."""
    return ctx.db.secrets.encrypt(json.dumps({"password": password}))


def get_install_user(ctx: Ctx, username: str) -> Any:
    return user_view(ctx, _human(ctx, username))


def change_install_user(ctx: Ctx, username: str) -> Any:
    user = _human(ctx, username)
    if ctx.config.is_superuser(username):
        raise invalid_request("Cannot update a superuser")
    body = ctx.body
    if "password" in body:
        _require_database_auth(ctx, "Cannot change password in non-database auth")
        if not valid_password(body["password"]):
            raise data_model_error(INVALID_PASSWORD)
        ctx.db.update_account(user.id, password=body["password"])
        ctx.log("user_change_password", namespace=user,
                metadata={"username": username, "superuser": ctx.require_user().username})
    if "email" in body:
        if str(ctx.config.raw.get("AUTHENTICATION_TYPE", "Database")) not in ("Database", "AppToken"):
            raise invalid_request("Cannot change e-mail in non-database auth")
        if ctx.db.account_email_in_use(body["email"], except_id=user.id):
            raise data_model_error("E-mail address already used")
        ctx.db.update_account(user.id, email=body["email"])
        ctx.log("user_change_email", namespace=user, metadata={
            "username": username, "old_email": user.email, "email": body["email"],
            "superuser": ctx.require_user().username})
    if "enabled" in body:
        ctx.db.update_account(user.id, enabled=bool(body["enabled"]))
        ctx.log("user_enable" if body["enabled"] else "user_disable", namespace=user,
                metadata={"username": username, "superuser": ctx.require_user().username})
    # Quay answers with the account as it was read before the change, patched with the new e-mail.
    answer = user_view(ctx, user)
    if body.get("password") is not None:
        answer["encrypted_password"] = _encrypted_password(ctx, str(body["password"]))
    if body.get("email") is not None:
        answer["email"] = body["email"]
    return answer


def delete_install_user(ctx: Ctx, username: str) -> None:
    user = _human(ctx, username)
    if ctx.config.is_superuser(username):
        raise invalid_request("Cannot delete a superuser")
    ctx.db.delete_namespace(user)
    # The account is gone, so the entry is filed under the superuser who removed it.
    ctx.log("user_delete", namespace=ctx.require_user(), metadata={"username": username})


def send_install_user_recovery_email(ctx: Ctx, username: str) -> Any:
    _require_database_auth(ctx, "Cannot send a recovery e-mail for non-database auth")
    user = _human(ctx, username)
    if ctx.config.is_superuser(username):
        raise invalid_request("Cannot send a recovery email for a superuser")
    if user.email:
        ctx.db.record_mail("recovery", user.email, {"username": user.username, "code": new_code()})
    return {"email": user.email}


# ---- organizations ---------------------------------------------------------------------------------------


def list_all_organizations(ctx: Ctx) -> Any:
    after, size = _page_window(ctx)
    rows = ctx.db.organizations_after(after, size + 1 if size else None)
    orgs, next_page = _paged(ctx, rows, size)
    answer: dict[str, Any] = {"organizations": [org_view(ctx, o) for o in orgs]}
    if next_page:
        answer["next_page"] = next_page
    return answer


def change_organization(ctx: Ctx, name: str) -> Any:
    org = _organization(ctx, name)
    new_name = ctx.body.get("name")
    if new_name is not None and new_name != org.username:
        problem = namespace_error(new_name)
        if problem:
            raise data_model_error(f"Invalid username {new_name}: {problem}")
        if ctx.db.name_taken(new_name):
            raise invalid_request("A user or organization with this name already exists")
        ctx.db.rename_namespace(org, new_name)
        ctx.log("org_change_name", namespace=org, metadata={"old_name": org.username, "new_name": new_name,
                                                            "superuser": ctx.require_user().username})
        renamed = ctx.db.user_by_id(org.id)
        assert renamed is not None
        org = renamed
    return org_view(ctx, org)


def delete_organization(ctx: Ctx, name: str) -> None:
    org = _organization(ctx, name)
    ctx.db.delete_namespace(org)
    ctx.log("org_delete", namespace=ctx.require_user(), metadata={"namespace": name})


def take_ownership(ctx: Ctx, namespace: str) -> Any:
    if ctx.config.is_superuser(namespace):
        raise invalid_request("Cannot take ownership of a superuser")
    me = ctx.require_user()
    entity = ctx.db.user_by_name(namespace)
    if entity is None or entity.robot:
        raise not_found()
    was_user = not entity.organization
    if entity.organization:
        ctx.db.add_org_admin(entity, me)
    else:
        # A user namespace becomes an organization administered by the superuser, as in Quay.
        ctx.db.convert_to_organization(entity, me)
    ctx.log("take_ownership", namespace=me, metadata={
        "entity_id": entity.id, "namespace": namespace, "was_user": was_user, "superuser": me.username})
    return {"namespace": namespace}


# ---- other -----------------------------------------------------------------------------------------------


def list_all_app_tokens(ctx: Ctx) -> Any:
    expiring = bool(ctx.query.get("expiring"))
    window: timedelta | None = None
    if expiring:
        lifetime = ctx.config.app_specific_token_expiration_s or DEFAULT_EXPIRING_WINDOW_S
        # "Expiring soon" is the last tenth of a token's lifetime, never less than a second.
        window = timedelta(seconds=max(-(-lifetime // 10), 1))
    tokens = ctx.db.all_app_tokens(window)
    return {"tokens": [{"uuid": tok.uuid, "title": tok.title, "last_accessed": format_date(tok.last_accessed),
                        "created": format_date(tok.created), "expiration": format_date(tok.expiration)}
                       for tok in tokens],
            "only_expiring": expiring}


def get_change_log(ctx: Ctx) -> Any:
    return {"log": CHANGE_LOG}


SU = SuperuserPermission()
SU_OR_GRO = SuperuserPermission(global_readonly=True)
_USER = "/api/v1/superuser/users/{username}"
_ORG = "/api/v1/superuser/organizations/{name}"
USERNAME = path_param("username", "The name of the user to manage.")
ORG_NAME = path_param("name", "The name of the organization to manage.")
_COMMON: dict[str, Any] = {"feature": "SUPER_USERS", "fresh_login": True, "order": "validate-first"}

OPERATIONS = (
    Operation("GET", "/api/v1/superuser/users/", "listAllUsers", "superuser",
              "List every user account of the registry.", list_all_users, Scope.SUPERUSER, SU_OR_GRO,
              params=(*PAGE_PARAMS, query_param("disabled", "Set to false to leave disabled users out.",
                                                "boolean", default=True)), **_COMMON),
    Operation("POST", "/api/v1/superuser/users/", "createInstallUser", "superuser",
              "Create a user account with a generated password.", create_install_user, Scope.SUPERUSER, SU,
              body=CREATE_INSTALL_USER, **_COMMON),
    Operation("GET", _USER, "getInstallUser", "superuser",
              "Show one user account.", get_install_user, Scope.SUPERUSER, SU_OR_GRO, params=(USERNAME,),
              **_COMMON),
    Operation("PUT", _USER, "changeInstallUser", "superuser",
              "Change a user's password, e-mail address or enabled state.", change_install_user,
              Scope.SUPERUSER, SU, params=(USERNAME,), body=UPDATE_USER, **_COMMON),
    Operation("DELETE", _USER, "deleteInstallUser", "superuser",
              "Delete a user account and everything it owns.", delete_install_user, Scope.SUPERUSER, SU,
              params=(USERNAME,), success=204, **_COMMON),
    Operation("POST", "/api/v1/superusers/users/{username}/sendrecovery", "sendInstallUserRecoveryEmail",
              "superuser", "Send a password recovery e-mail to a user.", send_install_user_recovery_email,
              Scope.SUPERUSER, SU, params=(USERNAME,), internal=True, fresh_login=True, order="validate-first",
              feature="SUPER_USERS+MAILING"),
    Operation("GET", "/api/v1/superuser/organizations/", "listAllOrganizations", "superuser",
              "List every organization of the registry.", list_all_organizations, Scope.SUPERUSER, SU_OR_GRO,
              params=PAGE_PARAMS, internal=True, **_COMMON),
    Operation("PUT", _ORG, "changeOrganization", "superuser",
              "Rename an organization.", change_organization, Scope.SUPERUSER, SU, params=(ORG_NAME,),
              body=UPDATE_ORG, **_COMMON),
    Operation("DELETE", _ORG, "deleteOrganization", "superuser",
              "Delete an organization and everything it owns.", delete_organization, Scope.SUPERUSER, SU,
              params=(ORG_NAME,), success=204, **_COMMON),
    Operation("POST", "/api/v1/superuser/takeownership/{namespace}", "takeOwnership", "superuser",
              "Make the calling superuser an administrator of a namespace.", take_ownership, Scope.SUPERUSER,
              SU, params=(path_param("namespace", "The user or organization to take over."),), internal=True,
              **_COMMON),
    Operation("GET", "/api/v1/superuser/changelog/", "getChangeLog", "superuser",
              "Show the registry's change log.", get_change_log, Scope.SUPERUSER, SU_OR_GRO, internal=True,
              **_COMMON),
    Operation("GET", "/api/v1/superuser/apptokens", "listAllAppTokens", "superuser",
              "List the app-specific tokens of every user, without their secrets.", list_all_app_tokens,
              Scope.SUPERUSER, SuperuserPermission(global_readonly=True, full_access_only=True),
              params=(query_param("expiring", "Only list tokens that expire soon.", "boolean"),),
              fresh_login=True, order="validate-first", feature="APP_SPECIFIC_TOKENS+SUPER_USERS"),
)
