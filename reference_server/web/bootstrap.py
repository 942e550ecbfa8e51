"""Endpoints outside the API blueprint that clients use to start: CSRF token and first-user initialize."""

from __future__ import annotations

from typing import Any

from reference_server.auth.authn import Authenticator, SessionData
from reference_server.auth.scopes import GRANTABLE_SCOPES, Scope, scope_string
from reference_server.config import QUAY_RELEASE
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError
from reference_server.core.operation import Anyone, Body, Operation
from reference_server.domain.names import namespace_error, valid_email, valid_password


def csrf_token(ctx: Ctx) -> Any:
    session: SessionData = ctx.state["session"]
    if not session.csrf:
        session = SessionData(user_uuid=session.user_uuid, csrf=Authenticator.new_csrf(),
                              login_time=session.login_time)
        ctx.state["set_session"] = session
    return {"csrf_token": session.csrf}


INITIALIZE_BODY = Body("UserInitialize", {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "description": "Name of the first user."},
        "password": {"type": "string", "description": "Password of the first user."},
        "email": {"type": "string", "description": "E-mail address of the first user."},
        "access_token": {"type": "boolean", "description": "Also mint an OAuth token with every scope."},
    },
})


def initialize_user(ctx: Ctx) -> Any:
    if not ctx.config.feature("USER_INITIALIZE"):
        raise MessageError(400, "Cannot initialize user, FEATURE_USER_INITIALIZE is False")
    if ctx.db.count_users() > 0:
        raise MessageError(400, "Cannot initialize user in a non-empty database")
    body = ctx.body or {}
    username, password, email = body["username"], body["password"], body.get("email")
    problem = namespace_error(username)
    if problem:
        raise MessageError(400, f"Invalid username {username}: {problem}")
    if not valid_password(password):
        raise MessageError(400, "Failed to initialize user: Invalid password, password must be at least "
                                "8 characters and contain no whitespace.")
    if email is not None and not valid_email(email):
        raise MessageError(400, "Failed to initialize user: Invalid email address")
    user = ctx.db.create_namespace(username, email=email, password=password)
    ctx.log("user_create", namespace=user, performer=user, metadata={"username": username})
    answer: dict[str, Any] = {"username": user.username, "email": user.email,
                              "encrypted_password": None}
    if body.get("access_token"):
        # Quay creates an org-less application named "automation" (client id = the username) for this token.
        scopes = frozenset(GRANTABLE_SCOPES) - {Scope.DIRECT_LOGIN}
        token = ctx.db.create_initial_token(user, scope_string(scopes))
        answer["access_token"] = token
    ctx.state["set_session"] = Authenticator.signed_in(user.uuid)
    return answer


def site_config(ctx: Ctx) -> Any:
    """Quay's public client configuration: the features switched on or off, what the UI needs to know, and the
    version. Clients (and the harness) read features here; nothing secret is in it."""
    config = ctx.config
    return {
        "config": {"SERVER_HOSTNAME": config.server_hostname, "PREFERRED_URL_SCHEME": config.preferred_url_scheme,
                   "REGISTRY_TITLE": config.registry_title,
                   "TAG_EXPIRATION_OPTIONS": list(config.tag_expiration_options),
                   "DEFAULT_TAG_EXPIRATION": config.default_tag_expiration},
        "features": dict(sorted(config.features.items())),
        "oauth": {},
        "external_login": [],
        "registry_state": "normal",
        "account_recovery_mode": False,
        "version_number": "" if config.feature("BILLING") else f"Quay v{QUAY_RELEASE}",
    }


OPERATIONS = (
    Operation("GET", "/csrf_token", "web.csrfToken", "", "Return the session's CSRF token, creating one.",
              csrf_token, None, Anyone(), web=True),
    Operation("GET", "/config", "web.config", "", "Return the public client configuration and feature switches.",
              site_config, None, Anyone(), web=True),
    Operation("POST", "/api/v1/user/initialize", "web.initializeUser", "",
              "Create the first user of an empty registry.", initialize_user, None, Anyone(),
              body=INITIALIZE_BODY, web=True, csrf_exempt=True, order="validate-first"),
)
